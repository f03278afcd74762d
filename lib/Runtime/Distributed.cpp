//===- Distributed.cpp - optimizer steps sharded over MPI ranks -----------===//
//
// The communication is MPI's non-blocking collectives (MPI_Ibcast,
// MPI_Iallgatherv, MPI_Ialltoallv, MPI_Iallreduce) waited on with a deadline,
// from the runtime rather than from the `mpi` dialect: MLIR 22's dialect has
// neither broadcasts nor allgathers, and a wait with a deadline, staged
// receives and the failure state belong to the runtime in any case
// (docs/Distributed.md).
//
//===----------------------------------------------------------------------===//

#include "optim/Runtime/Distributed.h"

#include "CommunicatorImpl.h"
#include "ParsedOptimizer.h"
#include "ShardPlan.h"
#include "StepDescription.h"

#include "optim/Dialect/Optim/IR/Optim.h"
#include "optim/Dialect/Optim/Transforms/StepABI.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/Hashing.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/xxhash.h"
#include "llvm/Support/raw_ostream.h"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <numeric>
#include <thread>

#include <csignal>

using namespace optim::runtime;
using namespace optim::runtime::detail;
using llvm::Error;
using llvm::Expected;


//===----------------------------------------------------------------------===//
// MPI initialisation
//===----------------------------------------------------------------------===//

Communicator::Communicator(std::unique_ptr<Impl> impl)
    : impl(std::move(impl)) {}
Communicator::~Communicator() = default;

Expected<std::shared_ptr<Communicator>>
Communicator::world(double timeoutSeconds) {
  MPIState &state = getMPIState();
  std::lock_guard<std::mutex> lock(state.mutex);
  if (const char *env = std::getenv("OPTIM_DIST_TIMEOUT")) {
    char *end = nullptr;
    double value = std::strtod(env, &end);
    if (end == env || *end != '\0' || !(value > 0) || !std::isfinite(value))
      return makeDistributedError("OPTIM_DIST_TIMEOUT must be a positive number of "
                       "seconds, got '" +
                       llvm::Twine(env) + "'");
    timeoutSeconds = value;
  }
  if (!(timeoutSeconds > 0) || !std::isfinite(timeoutSeconds))
    return makeDistributedError("the timeout must be a positive number of seconds");
  if (auto existing = state.world.lock()) {
    existing->impl->timeout = timeoutSeconds;
    return existing;
  }
  int initialised = 0, finalized = 0;
  MPI_Initialized(&initialised);
  MPI_Finalized(&finalized);
  if (finalized)
    return makeDistributedError("MPI has been finalised in this process");
  if (!initialised) {
    int provided = 0;
    int code = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED,
                               &provided);
    if (code != MPI_SUCCESS)
      return makeDistributedError("MPI_Init_thread failed: " + mpiErrorText(code));
    state.initialisedHere = true;
    std::atexit(finalizeAtExit);
  }
  auto impl = std::make_unique<Impl>();
  impl->timeout = timeoutSeconds;
  if (int code = MPI_Comm_dup(MPI_COMM_WORLD, &impl->comm))
    return makeDistributedError("MPI_Comm_dup failed: " + mpiErrorText(code));
  MPI_Comm_set_errhandler(impl->comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(impl->comm, &impl->rank);
  MPI_Comm_size(impl->comm, &impl->size);
  MPI_Type_contiguous(static_cast<int>(kUnit), MPI_BYTE, &impl->unit);
  MPI_Type_commit(&impl->unit);
  std::shared_ptr<Communicator> comm(new Communicator(std::move(impl)));
  state.world = comm;
  return comm;
}

int Communicator::getRank() const { return impl->rank; }
int Communicator::getSize() const { return impl->size; }
double Communicator::getTimeout() const { return impl->timeout; }
const std::string &Communicator::getFailure() const { return impl->failure; }
const ExchangeStats &Communicator::getLastStats() const { return impl->stats; }

Error Communicator::setTimeout(double seconds) {
  if (!(seconds > 0) || !std::isfinite(seconds))
    return makeDistributedError("the timeout must be a positive number of seconds");
  impl->timeout = seconds;
  return Error::success();
}

Error Communicator::barrier() {
  if (!impl->failure.empty())
    return impl->broken();
  return impl->run("a barrier", [&](MPI_Request *request) {
    return MPI_Ibarrier(impl->comm, request);
  });
}

Expected<std::vector<std::string>>
Communicator::allgather(llvm::StringRef data) {
  if (!impl->failure.empty())
    return impl->broken();
  int64_t length = static_cast<int64_t>(data.size());
  std::vector<int64_t> lengths(impl->size);
  if (Error error = impl->run("an allgather of sizes", [&](MPI_Request *r) {
        return MPI_Iallgather(&length, 1, MPI_INT64_T, lengths.data(), 1,
                              MPI_INT64_T, impl->comm, r);
      }))
    return error;
  std::vector<int> counts(impl->size), displs(impl->size);
  int64_t total = 0;
  for (int r = 0; r < impl->size; ++r) {
    int64_t units = toUnits(lengths[r]);
    if (lengths[r] < 0 || units > std::numeric_limits<int>::max() ||
        total > std::numeric_limits<int>::max() - units)
      return impl->fail("an allgather of more than 128 GiB");
    counts[r] = static_cast<int>(units);
    displs[r] = static_cast<int>(total);
    total += units;
  }
  std::vector<char> &buffer = *impl->staging;
  buffer.assign(total * kUnit, 0);
  std::memcpy(buffer.data() + displs[impl->rank] * kUnit, data.data(),
              data.size());
  if (Error error = impl->run("an allgather", [&](MPI_Request *r) {
        return MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL,
                               buffer.data(), counts.data(), displs.data(),
                               impl->unit, impl->comm, r);
      })) {
    impl->staging = new std::vector<char>();
    return error;
  }
  std::vector<std::string> result(impl->size);
  for (int r = 0; r < impl->size; ++r)
    result[r].assign(buffer.data() + displs[r] * kUnit, lengths[r]);
  return result;
}

Expected<std::string> Communicator::broadcast(llvm::StringRef data,
                                              int root) {
  if (!impl->failure.empty())
    return impl->broken();
  if (root < 0 || root >= impl->size)
    return makeDistributedError("root " + llvm::Twine(root) + " is not a rank of " +
                     llvm::Twine(impl->size));
  int64_t length = static_cast<int64_t>(data.size());
  if (Error error = impl->run("a broadcast of a size", [&](MPI_Request *r) {
        return MPI_Ibcast(&length, 1, MPI_INT64_T, root, impl->comm, r);
      }))
    return error;
  int64_t units = toUnits(length);
  if (length < 0 || units > std::numeric_limits<int>::max())
    return impl->fail("a broadcast of more than 128 GiB");
  std::vector<char> &buffer = *impl->staging;
  buffer.assign(units * kUnit, 0);
  if (impl->rank == root)
    std::memcpy(buffer.data(), data.data(), data.size());
  if (Error error = impl->run("a broadcast", [&](MPI_Request *r) {
        return MPI_Ibcast(buffer.data(), static_cast<int>(units), impl->unit,
                          root, impl->comm, r);
      })) {
    impl->staging = new std::vector<char>();
    return error;
  }
  return std::string(buffer.data(), length);
}

Error Communicator::allreduceSum(void *data, int64_t count, DType dtype) {
  if (!impl->failure.empty())
    return impl->broken();
  if (dtype != DType::F32 && dtype != DType::F64)
    return makeDistributedError("allreduceSum takes float32 or float64 elements");
  if (count < 0 || (count > 0 && !data))
    return makeDistributedError("allreduceSum: a null buffer or a negative count");
  MPI_Datatype type = dtype == DType::F32 ? MPI_FLOAT : MPI_DOUBLE;
  auto start = std::chrono::steady_clock::now();
  // Pieces of at most 2^30 elements (MPI counts are int).
  constexpr int64_t kPiece = int64_t(1) << 30;
  for (int64_t at = 0; at < count; at += kPiece) {
    int n = static_cast<int>(std::min(kPiece, count - at));
    char *piece = static_cast<char *>(data) + at * getElementSize(dtype);
    if (Error error = impl->run("an allreduce", [&](MPI_Request *r) {
          return MPI_Iallreduce(MPI_IN_PLACE, piece, n, type, MPI_SUM,
                                impl->comm, r);
        }))
      return error;
  }
  ExchangeStats stats;
  int64_t bytes = count * getElementSize(dtype);
  // A ring allreduce moves 2 (N - 1) / N of the buffer each way.
  stats.bytesSent = stats.bytesReceived =
      2 * bytes * (impl->size - 1) / impl->size;
  stats.reduceSeconds = std::chrono::duration<double>(
                            std::chrono::steady_clock::now() - start)
                            .count();
  impl->stats = stats;
  return Error::success();
}

Error Communicator::exchange(llvm::ArrayRef<void *> buffers,
                             llvm::ArrayRef<int64_t> sizes,
                             llvm::ArrayRef<int> owners, bool inOrder) {
  return impl->exchange(buffers, sizes, owners, inOrder, /*checkLayout=*/true);
}

Error Communicator::Impl::exchange(llvm::ArrayRef<void *> buffers,
                                   llvm::ArrayRef<int64_t> sizes,
                                   llvm::ArrayRef<int> owners, bool inOrder,
                                   bool checkLayout) {
  Impl *impl = this;
  if (!impl->failure.empty())
    return impl->broken();
  if (buffers.size() != sizes.size() || buffers.size() != owners.size())
    return makeDistributedError("exchange: " + llvm::Twine(buffers.size()) +
                     " buffers, " + llvm::Twine(sizes.size()) + " sizes and " +
                     llvm::Twine(owners.size()) + " owners");
  int n = impl->size;
  std::vector<int64_t> bytes(n, 0);
  // Every rank must describe the same exchange: a hash of the sizes and
  // owners is compared first (a mismatch would otherwise scramble buffers).
  uint64_t hash = 1469598103934665603ull;
  auto mix = [&](uint64_t value) {
    hash = (hash ^ value) * 1099511628211ull;
  };
  mix(buffers.size());
  for (size_t i = 0; i < buffers.size(); ++i) {
    if (owners[i] < 0 || owners[i] >= n)
      return makeDistributedError("exchange: owner " + llvm::Twine(owners[i]) +
                       " of buffer " + llvm::Twine(i) + " is not a rank of " +
                       llvm::Twine(n));
    if (sizes[i] < 0)
      return makeDistributedError("exchange: negative size of buffer " + llvm::Twine(i));
    if (sizes[i] > 0 && !buffers[i])
      return makeDistributedError("exchange: null buffer " + llvm::Twine(i));
    bytes[owners[i]] += sizes[i];
    mix(static_cast<uint64_t>(sizes[i]));
    mix(static_cast<uint64_t>(owners[i]));
  }
  ExchangeStats stats;
  auto start = std::chrono::steady_clock::now();
  uint64_t hashes[2] = {hash, ~hash};
  if (!checkLayout) {
  } else if (Error error = impl->run("the check of the exchange's layout",
                              [&](MPI_Request *r) {
                                return MPI_Iallreduce(MPI_IN_PLACE, hashes, 2,
                                                      MPI_UINT64_T, MPI_MAX,
                                                      impl->comm, r);
                              }))
    return error;
  if (checkLayout && (hashes[0] != hash || hashes[1] != ~hash))
    return makeDistributedError("exchange: the ranks passed different buffer sizes or "
                     "owners");

  std::vector<int> counts(n), displs(n);
  int64_t total = 0;
  for (int r = 0; r < n; ++r) {
    int64_t units = toUnits(bytes[r]);
    if (units > std::numeric_limits<int>::max() ||
        total > std::numeric_limits<int>::max() - units)
      return makeDistributedError("exchange: more than 128 GiB");
    counts[r] = static_cast<int>(units);
    displs[r] = static_cast<int>(total);
    total += units;
  }
  std::vector<char> &staging = *impl->staging;
  if (staging.size() < static_cast<size_t>(total * kUnit))
    staging.resize(total * kUnit);
  // This rank's segment: its buffers, packed in order.
  char *mine = staging.data() + displs[impl->rank] * kUnit;
  for (size_t i = 0; i < buffers.size(); ++i)
    if (owners[i] == impl->rank && sizes[i] > 0) {
      std::memcpy(mine, buffers[i], sizes[i]);
      mine += sizes[i];
    }

  std::vector<MPI_Request> requests;
  std::vector<int> roots;
  if (inOrder) {
    for (int root = 0; root < n; ++root) {
      if (counts[root] == 0)
        continue;
      requests.push_back(MPI_REQUEST_NULL);
      roots.push_back(root);
      if (Error error = impl->check(
              MPI_Ibcast(staging.data() + displs[root] * kUnit, counts[root],
                         impl->unit, root, impl->comm, &requests.back()),
              "the broadcast of rank " + std::to_string(root) +
                  "'s parameters")) {
        impl->staging = new std::vector<char>();
        return error;
      }
    }
  } else if (total > 0) {
    requests.push_back(MPI_REQUEST_NULL);
    if (Error error = impl->check(
            MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, staging.data(),
                            counts.data(), displs.data(), impl->unit,
                            impl->comm, &requests.back()),
            "the allgather of the parameters")) {
      impl->staging = new std::vector<char>();
      return error;
    }
  }
  if (Error error = impl->wait(requests, [&](size_t i) -> std::string {
        if (inOrder)
          return "the broadcast of rank " + std::to_string(roots[i]) +
                 "'s parameters";
        return "the allgather of the parameters";
      })) {
    // MPI may still write into the staging buffer: give it up.
    impl->staging = new std::vector<char>();
    return error;
  }
  // Everything arrived: write the other ranks' buffers.
  std::vector<const char *> cursor(n);
  for (int r = 0; r < n; ++r)
    cursor[r] = staging.data() + displs[r] * kUnit;
  for (size_t i = 0; i < buffers.size(); ++i) {
    int owner = owners[i];
    if (owner != impl->rank && sizes[i] > 0)
      std::memcpy(buffers[i], cursor[owner], sizes[i]);
    cursor[owner] += sizes[i];
  }
  stats.bytesSent = bytes[impl->rank];
  stats.bytesReceived =
      std::accumulate(bytes.begin(), bytes.end(), int64_t(0)) -
      bytes[impl->rank];
  stats.exchangeSeconds = std::chrono::duration<double>(
                              std::chrono::steady_clock::now() - start)
                              .count();
  impl->stats = stats;
  return Error::success();
}

//===----------------------------------------------------------------------===//
// ShardedOptimizer
//===----------------------------------------------------------------------===//

class ShardedOptimizer::Impl : public ShardedState {
public:
  GradientReduction reduction = GradientReduction::None;
  std::unique_ptr<Optimizer> local;
  /// The exchange's buffers (every rank's pieces), sizes and owners.
  std::vector<void *> exchangeBuffers;
  std::vector<int64_t> exchangeSizes;
  std::vector<int> exchangeOwners;
  /// Reduced gradients of the local pieces (GradientReduction::Sum/Mean).
  std::vector<char> reduced;

  Error reduceGradients(llvm::ArrayRef<void *> grads,
                        std::vector<void *> &localGrads);
  /// The sum of the squares of every rank's gradients (its pieces'), each
  /// rank's float64 sum added in rank order: the same on every rank.
  Expected<double> globalSquares(llvm::ArrayRef<void *> localGrads);
};

Expected<double>
ShardedOptimizer::Impl::globalSquares(llvm::ArrayRef<void *> localGrads) {
  Communicator::Impl &c = *comm->impl;
  double mine = 0.0;
  for (size_t k = 0; k < localPieces.size(); ++k)
    mine += sumOfSquares(localGrads[k], localPieces[k].count,
                         description.params[localPieces[k].param].dtype);
  // On the heap, and kept after a failed wait: MPI may still write there.
  auto *gathered = new std::vector<double>(c.size, 0.0);
  if (Error error = c.run("the allgather of the gradients' norms",
                          [&](MPI_Request *r) {
                            return MPI_Iallgather(&mine, 1, MPI_DOUBLE,
                                                  gathered->data(), 1,
                                                  MPI_DOUBLE, c.comm, r);
                          }))
    return error;
  double total = 0.0;
  for (double partial : *gathered)
    total += partial;
  delete gathered;
  return total;
}

ShardedOptimizer::ShardedOptimizer(std::unique_ptr<Impl> impl)
    : impl(std::move(impl)) {}
ShardedOptimizer::~ShardedOptimizer() = default;

Expected<std::unique_ptr<ShardedOptimizer>>
ShardedOptimizer::compile(llvm::StringRef source,
                          std::shared_ptr<Communicator> comm, ShardMode mode,
                          GradientReduction reduction,
                          const CompileOptions &options) {
  if (!comm)
    return makeDistributedError("a sharded optimizer needs a communicator");
  Communicator::Impl &c = *comm->impl;
  if (!c.failure.empty())
    return c.broken();
  auto compiled = compileOnRank(source, comm, mode, reduction, options);
  // Every rank must compile the same optimizer the same way, and all must
  // succeed: the plan and the exchange's layout follow from them.
  std::string problem;
  if (!compiled)
    problem = llvm::toString(compiled.takeError());
  if (Error error = c.agreeOnCompilation(
          "compiling the sharded step", problem, source,
          static_cast<unsigned>(mode), static_cast<unsigned>(reduction),
          /*target=*/0, options.pipelineOptions))
    return error;
  return compiled;
}

Expected<std::unique_ptr<ShardedOptimizer>>
ShardedOptimizer::compileOnRank(llvm::StringRef source,
                                std::shared_ptr<Communicator> comm,
                                ShardMode mode, GradientReduction reduction,
                                const CompileOptions &options) {
  int n = comm->getSize();
  int rank = comm->getRank();
  auto plan = ShardPlan::get(source, rank, n, mode, reduction,
                             /*hostGradientControl=*/true);
  if (!plan)
    return plan.takeError();
  auto fault = Fault::fromEnvironment();
  if (!fault)
    return fault.takeError();
  auto impl = std::make_unique<Impl>();
  impl->comm = std::move(comm);
  impl->adopt(*plan);
  impl->reduction = reduction;
  impl->fault = *fault;
  if (!plan->localSource.empty()) {
    auto local = Optimizer::compile(plan->localSource, options);
    if (!local)
      return makeDistributedError("compiling rank " + llvm::Twine(rank) +
                                  "'s part of the step: " +
                                  llvm::toString(local.takeError()));
    impl->local = std::move(*local);
    if (!impl->status.empty())
      if (Error error = impl->local->setLossScaleSlot(
              impl->description.initialTable[0]))
        return makeDistributedError(
            "clipping and dynamic loss scaling of a sharded step need the "
            "loss scale as a value of the table: " +
            llvm::toString(std::move(error)));
    if (Error error = impl->setLocal(rank, plan->pieceNames,
                                     impl->local->getParams(),
                                     impl->local->hasMasterWeights()))
      return error;
  }
  for (int r = 0; r < n; ++r)
    for (const ShardPiece &piece : impl->pieces[r]) {
      impl->exchangeSizes.push_back(impl->pieceBytes(piece));
      impl->exchangeOwners.push_back(r);
    }
  impl->exchangeBuffers.resize(impl->exchangeSizes.size());
  return std::unique_ptr<ShardedOptimizer>(
      new ShardedOptimizer(std::move(impl)));
}

ShardMode ShardedOptimizer::getMode() const { return impl->mode; }
Communicator &ShardedOptimizer::getCommunicator() const {
  return *impl->comm;
}
llvm::ArrayRef<ParamInfo> ShardedOptimizer::getParams() const {
  return impl->description.params;
}
llvm::ArrayRef<std::string> ShardedOptimizer::getStateNames() const {
  return impl->description.stateNames;
}
unsigned ShardedOptimizer::getNumGroups() const {
  return impl->description.numGroups;
}
llvm::ArrayRef<ShardPiece> ShardedOptimizer::getPieces(int rank) const {
  return impl->piecesOf(rank);
}
llvm::ArrayRef<ShardPiece> ShardedOptimizer::getLocalPieces() const {
  return impl->localPieces;
}
const Optimizer *ShardedOptimizer::getLocalOptimizer() const {
  return impl->local.get();
}
llvm::ArrayRef<ParamInfo> ShardedOptimizer::getLocalParams() const {
  return impl->localParams;
}
const ExchangeStats &ShardedOptimizer::getLastStats() const {
  return impl->stats;
}

Error ShardedOptimizer::initStates(llvm::ArrayRef<void *> localStates) const {
  if (Error error = impl->checkLocalStateCount(localStates.size()))
    return error;
  if (!impl->local)
    return Error::success();
  return impl->local->initStates(impl->forLocal(localStates));
}

Error ShardedOptimizer::initStates(llvm::ArrayRef<void *> params,
                                   llvm::ArrayRef<void *> localStates) const {
  const std::vector<ParamInfo> &infos = impl->description.params;
  if (params.size() != infos.size())
    return makeDistributedError("expected " + llvm::Twine(infos.size()) +
                                " parameters, got " +
                                llvm::Twine(params.size()));
  if (!impl->local)
    return initStates(localStates);
  std::vector<void *> local;
  for (const ShardPiece &piece : impl->localPieces) {
    if (!params[piece.param] && infos[piece.param].numElements > 0)
      return makeDistributedError("null buffer for parameter '" +
                                  infos[piece.param].name + "'");
    local.push_back(impl->pieceAddress(params[piece.param], piece));
  }
  if (Error error = impl->checkLocalStateCount(localStates.size()))
    return error;
  return impl->local->initStates(local, impl->forLocal(localStates));
}

Error ShardedOptimizer::setHyperParam(unsigned group, llvm::StringRef name,
                                      double value) {
  return impl->setHyperParam(group, name, value, impl->local.get());
}

Expected<double> ShardedOptimizer::getHyperParam(unsigned group,
                                                 llvm::StringRef name) const {
  return impl->description.getHyperParam(impl->table, group, name);
}

int64_t ShardedOptimizer::getGlobalStep() const { return impl->globalStep; }

Error ShardedOptimizer::setGlobalStep(int64_t step) {
  if (Error error = detail::StepDescription::checkGlobalStepValue(step))
    return error;
  if (impl->local)
    impl->local->setGlobalStep(step);
  impl->globalStep = step;
  return Error::success();
}

Expected<std::vector<double>> ShardedOptimizer::getLearningRates() const {
  // A group this rank updates: its step's value. Another group: the
  // table's value if its rate is one, else NaN (a per-step list or a
  // schedule is evaluated by the ranks that update the group).
  std::vector<double> rates(impl->groupMap.size(),
                            std::numeric_limits<double>::quiet_NaN());
  if (impl->local) {
    auto local = impl->local->getLearningRates();
    if (!local)
      return local.takeError();
    for (size_t g = 0; g < impl->groupMap.size(); ++g)
      if (impl->groupMap[g] >= 0)
        rates[g] = (*local)[impl->groupMap[g]];
  }
  for (size_t g = 0; g < impl->groupMap.size(); ++g) {
    if (impl->groupMap[g] >= 0 || !impl->constantRate[g])
      continue;
    auto value = impl->description.getHyperParam(impl->table, g,
                                                 "learning_rate");
    if (!value)
      return value.takeError();
    rates[g] = *value;
  }
  return rates;
}

bool ShardedOptimizer::hasStepStatus() const {
  return !impl->status.empty();
}

Expected<StepStatus> ShardedOptimizer::getStepStatus() const {
  if (impl->status.empty())
    return makeDistributedError("the optimizer has no step status: it neither "
                                "clips gradients nor scales the loss "
                                "dynamically");
  return impl->description.readStatus(impl->status.data());
}

Error ShardedOptimizer::setLossScaleState(double lossScale,
                                          int64_t goodSteps) {
  return impl->description.writeLossScaleState(impl->status.data(), lossScale,
                                               goodSteps);
}

Error ShardedOptimizer::setNumThreads(int numThreads) {
  if (!impl->local)
    return numThreads < 0 ? makeDistributedError("negative thread count")
                          : Error::success();
  return impl->local->setNumThreads(numThreads);
}

Error ShardedOptimizer::Impl::reduceGradients(
    llvm::ArrayRef<void *> grads, std::vector<void *> &localGrads) {
  Communicator::Impl &c = *comm->impl;
  int n = c.size;
  // Segment to rank r: this rank's gradient of every piece of r, packed.
  std::vector<int64_t> sendBytes(n, 0);
  for (int r = 0; r < n; ++r)
    for (const ShardPiece &piece : pieces[r])
      sendBytes[r] += pieceBytes(piece);
  int64_t mine = sendBytes[c.rank];
  std::vector<int> sendCounts(n), sendDispls(n), recvCounts(n),
      recvDispls(n);
  int64_t sendTotal = 0;
  for (int r = 0; r < n; ++r) {
    int64_t units = toUnits(sendBytes[r]);
    if (units > std::numeric_limits<int>::max() ||
        sendTotal > std::numeric_limits<int>::max() - units ||
        toUnits(mine) * n > std::numeric_limits<int>::max())
      return makeDistributedError("reduce-scatter of more than 128 GiB");
    sendCounts[r] = static_cast<int>(units);
    sendDispls[r] = static_cast<int>(sendTotal);
    sendTotal += units;
    recvCounts[r] = static_cast<int>(toUnits(mine));
    recvDispls[r] = static_cast<int>(r * toUnits(mine));
  }
  std::vector<char> &send = *c.sendStaging;
  send.assign(sendTotal * kUnit, 0);
  for (int r = 0; r < n; ++r) {
    char *cursor = send.data() + sendDispls[r] * kUnit;
    for (const ShardPiece &piece : pieces[r]) {
      std::memcpy(cursor, pieceAddress(grads[piece.param], piece),
                  pieceBytes(piece));
      cursor += pieceBytes(piece);
    }
  }
  std::vector<char> &recv = *c.staging;
  recv.assign(static_cast<size_t>(n) * toUnits(mine) * kUnit, 0);
  MPI_Request request = MPI_REQUEST_NULL;
  if (Error error = c.check(
          MPI_Ialltoallv(send.data(), sendCounts.data(), sendDispls.data(),
                         c.unit, recv.data(), recvCounts.data(),
                         recvDispls.data(), c.unit, c.comm, &request),
          "the reduce-scatter of the gradients"))
    return error;
  if (Error error = c.wait(request, [](size_t) {
        return std::string("the reduce-scatter of the gradients");
      })) {
    c.staging = new std::vector<char>();
    c.sendStaging = new std::vector<char>();
    return error;
  }
  // Sum in rank order (deterministic, whatever MPI's algorithm), then
  // average.
  reduced.assign(mine, 0);
  size_t at = 0;
  // The senders packed this rank's pieces in plan order.
  const std::vector<ShardPiece> &own = pieces[c.rank];
  for (size_t j = 0; j < own.size(); ++j) {
    const ShardPiece &piece = own[j];
    size_t k = localIndexOfPlan[j];
    DType dtype = description.params[piece.param].dtype;
    char *out = reduced.data() + at;
    auto sum = [&](auto zero) {
      using T = decltype(zero);
      T *dst = reinterpret_cast<T *>(out);
      for (int r = 0; r < n; ++r) {
        const T *src = reinterpret_cast<const T *>(
            recv.data() + recvDispls[r] * kUnit + at);
        if (r == 0)
          std::memcpy(dst, src, piece.count * sizeof(T));
        else
          for (int64_t e = 0; e < piece.count; ++e)
            dst[e] += src[e];
      }
      if (reduction == GradientReduction::Mean)
        for (int64_t e = 0; e < piece.count; ++e)
          dst[e] /= static_cast<T>(n);
    };
    if (dtype == DType::F32)
      sum(float(0));
    else
      sum(double(0));
    localGrads[k] = out;
    at += pieceBytes(piece);
  }
  return Error::success();
}

Error ShardedOptimizer::refuseStep(llvm::StringRef problem) {
  return impl->refuse(problem);
}

Error ShardedOptimizer::step(llvm::ArrayRef<void *> params,
                             llvm::ArrayRef<void *> grads,
                             llvm::ArrayRef<void *> localStates) {
  Communicator::Impl &c = *impl->comm->impl;
  if (!c.failure.empty())
    return c.broken();
  const std::vector<ParamInfo> &infos = impl->description.params;
  const std::vector<ShardPiece> &own = impl->localPieces;
  // Local validation, then agreement: every rank learns whether all ranks
  // may step, before any of them writes.
  std::vector<void *> localParams, localGrads;
  std::string problem = impl->prepareStep(params, grads, localStates.size(),
                                          localParams, localGrads);
  if (problem.empty()) {
    if (impl->local)
      if (Error error =
              impl->local->checkStep(localParams, localGrads,
                                     impl->forLocal(localStates)))
        problem = llvm::toString(std::move(error));
  }
  ExchangeStats stats;
  auto start = std::chrono::steady_clock::now();
  if (Error error = c.agree("the step", problem, 0, ""))
    return error;
  if (impl->reduction != GradientReduction::None) {
    if (Error error = impl->reduceGradients(grads, localGrads))
      return error;
  }
  // Clipping and dynamic loss scaling: the norm of every rank's
  // gradients, then the local step at the loss scale times the clip factor,
  // or no step anywhere.
  std::vector<double> nextStatus;
  std::optional<double> unscale;
  if (!impl->status.empty()) {
    auto squares = impl->globalSquares(localGrads);
    if (!squares)
      return squares.takeError();
    unscale = impl->controlStep(*squares, nextStatus);
  }
  stats.reduceSeconds = std::chrono::duration<double>(
                            std::chrono::steady_clock::now() - start)
                            .count();
  if (!nextStatus.empty() && !unscale) {
    // Skipped on every rank: nothing to update or exchange.
    impl->status = std::move(nextStatus);
    impl->stats = stats;
    return Error::success();
  }
  if (unscale && impl->local)
    if (Error error = impl->local->setLossScaleSlot(*unscale))
      return error;
  if (impl->local)
    if (Error error = impl->local->step(localParams, localGrads,
                                        impl->forLocal(localStates)))
      return error;
  if (!nextStatus.empty())
    impl->status = std::move(nextStatus);
  impl->fault.inject(c.rank, impl->globalStep);
  ++impl->globalStep;
  size_t e = 0;
  for (size_t r = 0; r < impl->pieces.size(); ++r)
    for (const ShardPiece &piece : impl->pieces[r])
      impl->exchangeBuffers[e++] = impl->pieceAddress(params[piece.param],
                                                      piece);
  if (Error error = c.exchange(impl->exchangeBuffers, impl->exchangeSizes,
                               impl->exchangeOwners,
                               impl->mode == ShardMode::BroadcastParams,
                               /*checkLayout=*/false))
    return error;
  ExchangeStats exchanged = impl->comm->getLastStats();
  stats.bytesSent = exchanged.bytesSent;
  stats.bytesReceived = exchanged.bytesReceived;
  stats.exchangeSeconds = exchanged.exchangeSeconds;
  if (impl->reduction != GradientReduction::None) {
    int64_t grad = 0;
    for (const ShardPiece &piece : own)
      grad += impl->pieceBytes(piece);
    int64_t all = 0;
    for (const ParamInfo &info : infos)
      all += info.numElements * getElementSize(info.dtype);
    stats.bytesSent += all - grad;
    stats.bytesReceived += grad * (c.size - 1);
  }
  impl->stats = stats;
  return Error::success();
}
