//===- ShardPlan.cpp - what a sharded step derives from its source --------===//

#include "ShardPlan.h"

#include "CommunicatorImpl.h"
#include "ParsedOptimizer.h"

#include "optim/Dialect/Optim/IR/Optim.h"
#include "optim/Dialect/Optim/Transforms/StepABI.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <thread>

using namespace optim::runtime;
using namespace optim::runtime::detail;
using llvm::Error;
using llvm::Expected;

static Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

namespace {
/// Whether a parameter's update can be split into element ranges: every
/// element's update reads only that element (no centralization, no
/// per-tensor norms, no whole-tensor rule, dense, states of its shape).
bool isElementwise(const mlir::optim::StepABI &abi, unsigned param) {
  const mlir::optim::ParamABI &p = abi.getParams()[param];
  const mlir::optim::RuleSpec &spec = abi.getSpec();
  if (p.sparse || p.centralize || spec.perTensorNorms || spec.wholeTensor)
    return false;
  int64_t elements = p.type.getNumElements();
  for (unsigned s = 0; s < abi.getStates().size(); ++s)
    if (abi.getStateNumElements(param, s) != elements)
      return false;
  return true;
}

/// Pieces of every rank.
std::vector<std::vector<ShardPiece>>
planShards(const mlir::optim::StepABI &abi, ShardMode mode, int n) {
  std::vector<std::vector<ShardPiece>> pieces(n);
  auto params = abi.getParams();
  if (mode == ShardMode::BroadcastParams) {
    for (unsigned i = 0; i < params.size(); ++i)
      pieces[i % n].push_back(
          {i, 0, params[i].type.getNumElements(), /*whole=*/true});
    return pieces;
  }
  // ZeRO: the elementwise parameters of each class (group, element type,
  // master, decay) form one flat range of elements, cut into n near-equal
  // parts at multiples of 16 elements; the others go whole, largest first,
  // to the least loaded rank.
  std::vector<int64_t> load(n, 0);
  std::vector<std::vector<unsigned>> classes;
  llvm::DenseMap<std::pair<unsigned, mlir::Type>, unsigned> classOf;
  std::vector<unsigned> whole;
  for (unsigned i = 0; i < params.size(); ++i) {
    if (!isElementwise(abi, i)) {
      whole.push_back(i);
      continue;
    }
    unsigned key = params[i].group * 4 + (params[i].decay ? 2 : 0) +
                   (params[i].master ? 1 : 0);
    auto [it, inserted] = classOf.try_emplace(
        {key, params[i].type.getElementType()}, classes.size());
    if (inserted)
      classes.emplace_back();
    classes[it->second].push_back(i);
  }
  for (const std::vector<unsigned> &members : classes) {
    int64_t total = 0;
    for (unsigned i : members)
      total += params[i].type.getNumElements();
    std::vector<int64_t> bounds(n + 1);
    for (int r = 0; r < n; ++r) {
      // r * total / n without overflow (total < 2^48, n < 2^15).
      bounds[r] = (static_cast<int64_t>(r) * (total / n) +
                   static_cast<int64_t>(r) * (total % n) / n) /
                  16 * 16;
    }
    bounds[n] = total;
    int64_t start = 0;
    for (unsigned i : members) {
      int64_t count = params[i].type.getNumElements();
      for (int r = 0; r < n; ++r) {
        int64_t lo = std::max(start, bounds[r]);
        int64_t hi = std::min(start + count, bounds[r + 1]);
        if (lo >= hi)
          continue;
        pieces[r].push_back(
            {i, lo - start, hi - lo, lo == start && hi == start + count});
        load[r] += hi - lo;
      }
      start += count;
    }
  }
  llvm::sort(whole, [&](unsigned a, unsigned b) {
    int64_t sa = params[a].type.getNumElements();
    int64_t sb = params[b].type.getNumElements();
    return sa != sb ? sa > sb : a < b;
  });
  for (unsigned i : whole) {
    int r = static_cast<int>(std::min_element(load.begin(), load.end()) -
                             load.begin());
    pieces[r].push_back({i, 0, params[i].type.getNumElements(), true});
    load[r] += params[i].type.getNumElements();
  }
  for (auto &list : pieces)
    llvm::sort(list, [](const ShardPiece &a, const ShardPiece &b) {
      return std::make_pair(a.param, a.offset) <
             std::make_pair(b.param, b.offset);
    });
  return pieces;
}

/// The name of piece `piece` in the local step's IR.
std::string pieceName(const mlir::optim::ParamABI &param,
                      const ShardPiece &piece) {
  if (piece.whole)
    return param.name;
  return param.name + "[" + std::to_string(piece.offset) + ":" +
         std::to_string(piece.offset + piece.count) + "]";
}
} // namespace


Expected<ShardPlan> ShardPlan::get(llvm::StringRef source, int rank, int size,
                                   ShardMode mode,
                                   GradientReduction reduction,
                                   bool hostGradientControl) {
  using namespace mlir::optim;
  if (static_cast<unsigned>(mode) > static_cast<unsigned>(ShardMode::Zero))
    return makeError("unknown sharding mode");
  if (static_cast<unsigned>(reduction) >
      static_cast<unsigned>(GradientReduction::Mean))
    return makeError("unknown gradient reduction");
  if (size < 1 || rank < 0 || rank >= size)
    return makeError("rank " + llvm::Twine(rank) + " of " +
                     llvm::Twine(size));
  auto parsed = ParsedOptimizer::parse(source);
  if (!parsed)
    return parsed.takeError();
  OptimizerOp optimizer = (*parsed)->getOptimizer();
  if (mode == ShardMode::FromSource)
    mode = optimizer.getSharding() == Sharding::broadcast_params
               ? ShardMode::BroadcastParams
               : ShardMode::Zero;
  bool control = optimizer.getMaxGradNorm() || optimizer.getDynamicLossScale();
  if (control && !hostGradientControl)
    return makeError(
        "a sharded GPU step does not support max_grad_norm or dynamic loss "
        "scaling yet (their norm and finiteness check span every rank's "
        "gradients): clip and check the full gradients before the step");
  StepABI abi = StepABI::get(optimizer);
  if (control)
    for (const ParamABI &param : abi.getParams())
      if (param.sparse)
        return makeError("clipping and dynamic loss scaling need dense "
                         "gradients; '" +
                         param.name + "' has sparse ones");
  auto description = StepDescription::get(abi);
  if (!description)
    return description.takeError();
  if (reduction != GradientReduction::None) {
    for (const ParamABI &param : abi.getParams()) {
      mlir::Type type = param.type.getElementType();
      if (param.sparse || !(type.isF32() || type.isF64()))
        return makeError("reducing gradients over the ranks needs dense "
                         "float32 or float64 parameters; '" +
                         param.name + "' is not");
    }
  }
  ShardPlan plan;
  plan.mode = mode;
  plan.description = std::move(*description);
  plan.numGlobalSlots = abi.getNumGlobalSlots();
  plan.pieces = planShards(abi, mode, size);
  for (const GroupABI &group : abi.getGroups())
    plan.constantRate.push_back(group.hasConstantLearningRate());
  for (const ShardPiece &piece : plan.pieces[rank])
    plan.pieceNames.push_back(pieceName(abi.getParams()[piece.param], piece));

  // The local step: the optimizer with only this rank's pieces, each split
  // piece a 1-D parameter of its own; empty groups and order_params go (the
  // local order does not matter: no update reads another parameter).
  llvm::StringMap<llvm::SmallVector<const ShardPiece *, 2>> byName;
  for (const ShardPiece &piece : plan.pieces[rank])
    byName[abi.getParams()[piece.param].name].push_back(&piece);
  mlir::OpBuilder b(optimizer.getContext());
  optimizer.removeShardingAttr();
  // The control runs on the host over every rank's gradients; the local
  // step keeps the loss-scale slot, which the host sets before each step.
  optimizer.removeMaxGradNormAttr();
  optimizer.removeDynamicLossScaleAttr();
  mlir::Block &body = optimizer.getBody().front();
  for (OrderParamsOp order :
       llvm::make_early_inc_range(body.getOps<OrderParamsOp>()))
    order.erase();
  int numLocalGroups = 0;
  for (GroupOp group : llvm::make_early_inc_range(body.getOps<GroupOp>())) {
    mlir::Block &groupBody = group.getBody().front();
    for (ParamOp param :
         llvm::make_early_inc_range(groupBody.getOps<ParamOp>())) {
      auto it = byName.find(param.getName());
      if (it == byName.end()) {
        param.erase();
        continue;
      }
      for (const ShardPiece *piece : it->second) {
        if (piece->whole)
          continue;
        b.setInsertionPoint(param);
        auto copy = llvm::cast<ParamOp>(b.clone(*param));
        copy.setName(pieceName(abi.getParams()[piece->param], *piece));
        copy.setType(mlir::RankedTensorType::get(
            {piece->count},
            llvm::cast<mlir::ShapedType>(param.getType()).getElementType()));
      }
      if (!llvm::any_of(it->second,
                        [](const ShardPiece *p) { return p->whole; }))
        param.erase();
    }
    if (groupBody.empty()) {
      plan.groupMap.push_back(-1);
      group.erase();
    } else {
      plan.groupMap.push_back(numLocalGroups++);
    }
  }
  if (numLocalGroups > 0) {
    llvm::raw_string_ostream os(plan.localSource);
    (*parsed)->getModule().print(os);
  }
  return plan;
}

Error optim::runtime::detail::orderLocalPieces(
    llvm::ArrayRef<ShardPiece> own, llvm::ArrayRef<std::string> pieceNames,
    llvm::ArrayRef<ParamInfo> localParams,
    std::vector<ShardPiece> &localPieces,
    std::vector<size_t> &localIndexOfPlan) {
  llvm::StringMap<size_t> localIndex;
  for (const auto &[k, info] : llvm::enumerate(localParams))
    localIndex[info.name] = k;
  if (localParams.size() != own.size())
    return makeError("the local step has " + llvm::Twine(localParams.size()) +
                     " parameters for " + llvm::Twine(own.size()) +
                     " pieces");
  localPieces.assign(own.size(), ShardPiece());
  localIndexOfPlan.clear();
  for (size_t j = 0; j < own.size(); ++j) {
    auto it = localIndex.find(pieceNames[j]);
    if (it == localIndex.end())
      return makeError("the local step has no parameter '" + pieceNames[j] +
                       "'");
    localPieces[it->second] = own[j];
    localIndexOfPlan.push_back(it->second);
  }
  return Error::success();
}

double optim::runtime::detail::sumOfSquares(const void *data, int64_t count,
                                            DType dtype) {
  // Four partial sums (independent additions), added at the end.
  double sums[4] = {0, 0, 0, 0};
  auto accumulate = [&](auto read) {
    int64_t i = 0;
    for (; i + 4 <= count; i += 4)
      for (int k = 0; k < 4; ++k) {
        double x = read(i + k);
        sums[k] += x * x;
      }
    for (; i < count; ++i) {
      double x = read(i);
      sums[0] += x * x;
    }
  };
  switch (dtype) {
  case DType::F32: {
    const float *p = static_cast<const float *>(data);
    accumulate([p](int64_t i) { return double(p[i]); });
    break;
  }
  case DType::F64: {
    const double *p = static_cast<const double *>(data);
    accumulate([p](int64_t i) { return p[i]; });
    break;
  }
  case DType::BF16: {
    const uint16_t *p = static_cast<const uint16_t *>(data);
    accumulate([p](int64_t i) {
      uint32_t bits = uint32_t(p[i]) << 16;
      float value;
      std::memcpy(&value, &bits, sizeof(value));
      return double(value);
    });
    break;
  }
  case DType::F16: {
    const uint16_t *p = static_cast<const uint16_t *>(data);
    accumulate([p](int64_t i) {
      uint16_t h = p[i];
      double sign = (h & 0x8000) ? -1.0 : 1.0;
      int exponent = (h >> 10) & 0x1f;
      int mantissa = h & 0x3ff;
      if (exponent == 0x1f)
        return mantissa ? std::numeric_limits<double>::quiet_NaN()
                        : sign * std::numeric_limits<double>::infinity();
      if (exponent == 0)
        return sign * std::ldexp(double(mantissa), -24);
      return sign * std::ldexp(double(mantissa | 0x400), exponent - 25);
    });
    break;
  }
  }
  return (sums[0] + sums[1]) + (sums[2] + sums[3]);
}

std::optional<double>
ShardedState::controlStep(double squares, std::vector<double> &next) const {
  using Control = mlir::optim::GradientControlOp;
  auto value = [&](llvm::StringRef name) {
    auto slot = description.findSlot(0, name);
    if (!slot) {
      llvm::consumeError(slot.takeError());
      return std::numeric_limits<double>::quiet_NaN();
    }
    return table[*slot];
  };
  bool dynamic = description.skipsNonfinite;
  auto maxNorm = description.findSlot(0, "max_grad_norm");
  bool clipping = static_cast<bool>(maxNorm);
  if (!maxNorm)
    llvm::consumeError(maxNorm.takeError());
  next = status;
  double scale =
      dynamic ? status[Control::kStatusLossScale] : value("loss_scale");
  // The combine: arith.maximumf propagates a NaN, as std::fmax would not.
  auto maximum = [](double a, double b) {
    return std::isnan(a) || std::isnan(b)
               ? std::numeric_limits<double>::quiet_NaN()
               : std::max(a, b);
  };
  bool found = !(std::fabs(squares) < std::numeric_limits<double>::infinity());
  double norm = std::sqrt(squares) / scale;
  double factor =
      clipping ? maximum(1.0, (norm + 1e-6) / table[*maxNorm]) : 1.0;
  next[Control::kStatusFoundInf] = found ? 1.0 : 0.0;
  next[Control::kStatusGradNorm] = norm;
  next[Control::kStatusClipFactor] = factor;
  if (dynamic) {
    // torch GradScaler's update (ScheduleStep's update_loss_scale).
    double good = status[Control::kStatusGoodSteps];
    double clean = good + 1.0;
    bool grow = clean >= value("growth_interval");
    double grown = scale * value("growth_factor");
    double afterClean =
        grow ? (std::fabs(grown) < std::numeric_limits<double>::infinity()
                    ? grown
                    : scale)
             : scale;
    next[Control::kStatusLossScale] =
        found ? maximum(scale * value("backoff_factor"),
                        value("min_loss_scale"))
              : afterClean;
    next[Control::kStatusGoodSteps] = found ? 0.0 : (grow ? 0.0 : clean);
    if (found)
      return std::nullopt;
  }
  return scale * factor;
}

Expected<Fault> Fault::fromEnvironment() {
  Fault fault;
  const char *text = std::getenv("OPTIM_DIST_FAULT");
  if (!text)
    return fault;
  llvm::SmallVector<llvm::StringRef> fields;
  llvm::StringRef(text).split(fields, ',');
  for (llvm::StringRef field : fields) {
    auto [key, value] = field.split('=');
    if (key == "rank" && !value.getAsInteger(10, fault.rank))
      continue;
    if (key == "step" && !value.getAsInteger(10, fault.step))
      continue;
    if (key == "action" && (value == "stall" || value == "kill")) {
      fault.action = value.str();
      continue;
    }
    return makeError("OPTIM_DIST_FAULT must be "
                     "'rank=R,step=K,action=stall|kill', got '" +
                     llvm::Twine(text) + "'");
  }
  if (fault.action.empty())
    return makeError("OPTIM_DIST_FAULT has no action=stall|kill");
  return fault;
}

void Fault::inject(int thisRank, int64_t thisStep) const {
  if (action.empty() || rank != thisRank || step != thisStep)
    return;
  if (action == "kill")
    std::raise(SIGKILL);
  while (true)
    std::this_thread::sleep_for(std::chrono::hours(1));
}

void ShardedState::adopt(ShardPlan &plan) {
  mode = plan.mode;
  description = std::move(plan.description);
  table = description.initialTable;
  status = description.initialStatus;
  numGlobalSlots = plan.numGlobalSlots;
  pieces = std::move(plan.pieces);
  groupMap = std::move(plan.groupMap);
  constantRate = std::move(plan.constantRate);
}

Error ShardedState::setLocal(int rank, llvm::ArrayRef<std::string> pieceNames,
                             llvm::ArrayRef<ParamInfo> localStepParams,
                             bool localHasMaster) {
  if (Error error = orderLocalPieces(pieces[rank], pieceNames,
                                     localStepParams, localPieces,
                                     localIndexOfPlan))
    return error;
  localParams.assign(localStepParams.begin(), localStepParams.end());
  dropMaster = description.hasMaster && !localHasMaster;
  if (dropMaster)
    for (ParamInfo &info : localParams) {
      info.stateShapes.push_back({0});
      info.stateNumElements.push_back(0);
      info.stateDTypes.push_back(DType::F32);
    }
  return Error::success();
}

llvm::ArrayRef<ShardPiece> ShardedState::piecesOf(int rank) const {
  if (rank < 0 || rank >= static_cast<int>(pieces.size()))
    return {};
  return pieces[rank];
}

int64_t ShardedState::pieceBytes(const ShardPiece &piece) const {
  return piece.count * getElementSize(description.params[piece.param].dtype);
}

char *ShardedState::pieceAddress(void *buffer, const ShardPiece &piece) const {
  return static_cast<char *>(buffer) +
         piece.offset * getElementSize(description.params[piece.param].dtype);
}

Error ShardedState::checkLocalStateCount(size_t count) const {
  if (localPieces.empty() && count != 0)
    return makeDistributedError("this rank keeps no state, got " +
                                llvm::Twine(count) + " buffers");
  size_t expected = localPieces.size() * description.stateNames.size();
  if (count == expected)
    return Error::success();
  return makeError("expected " + llvm::Twine(expected) +
                   " local state buffers, got " + llvm::Twine(count));
}

std::vector<void *>
ShardedState::forLocal(llvm::ArrayRef<void *> states) const {
  if (!dropMaster)
    return std::vector<void *>(states.begin(), states.end());
  size_t n = description.stateNames.size();
  std::vector<void *> out;
  for (size_t i = 0; i < states.size(); ++i)
    if (i % n != n - 1)
      out.push_back(states[i]);
  return out;
}

Expected<int> ShardedState::keepHyperParam(unsigned group,
                                           llvm::StringRef name, double value,
                                           bool hasLocal) {
  auto slot = description.findSlot(group, name);
  if (!slot)
    return slot.takeError();
  if (Error error = description.setHyperParam(table, group, name, value))
    return error;
  if (!hasLocal)
    return -1;
  // With clipping or dynamic loss scaling, the global slots (the loss scale
  // and the control's values) are the host's: it sets the local step's
  // loss scale before each step (controlStep).
  if (!status.empty() && *slot < numGlobalSlots)
    return -1;
  // A global slot (at the head of the table: the loss scale) is every
  // group's: any local group takes it.
  if (*slot < numGlobalSlots)
    return 0;
  return groupMap[group];
}

std::string ShardedState::prepareStep(llvm::ArrayRef<void *> params,
                                      llvm::ArrayRef<void *> grads,
                                      size_t numLocalStates,
                                      std::vector<void *> &localParamPtrs,
                                      std::vector<void *> &localGradPtrs) const {
  const std::vector<ParamInfo> &infos = description.params;
  size_t numStates = description.stateNames.size();
  if (params.size() != infos.size() || grads.size() != infos.size())
    return "expected " + std::to_string(infos.size()) +
           " parameters and gradients, got " + std::to_string(params.size()) +
           " and " + std::to_string(grads.size());
  if (numLocalStates != localPieces.size() * numStates)
    return "expected " + std::to_string(localPieces.size() * numStates) +
           " local state buffers (" + std::to_string(localPieces.size()) +
           " pieces), got " + std::to_string(numLocalStates);
  if (Error error = StepDescription::checkStepCounter(globalStep))
    return llvm::toString(std::move(error));
  for (size_t i = 0; i < infos.size(); ++i)
    if (infos[i].numElements > 0 && (!params[i] || !grads[i]))
      return "null buffer for parameter '" + infos[i].name + "'";
  localParamPtrs.resize(localPieces.size());
  localGradPtrs.resize(localPieces.size());
  for (size_t k = 0; k < localPieces.size(); ++k) {
    const ShardPiece &piece = localPieces[k];
    localParamPtrs[k] = pieceAddress(params[piece.param], piece);
    localGradPtrs[k] = infos[piece.param].sparse
                           ? grads[piece.param]
                           : pieceAddress(grads[piece.param], piece);
  }
  return "";
}

Error ShardedState::refuse(llvm::StringRef problem) {
  Communicator::Impl &c = *comm->impl;
  if (!c.failure.empty())
    return c.broken();
  std::string text = problem.empty() ? "refused by the caller" : problem.str();
  return c.agree("the step", text, 0, "");
}
