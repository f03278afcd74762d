//===- DistributedGPU.cpp - sharded optimizer steps on GPUs ---------------===//
//
// The plan and the local IR are ShardPlan's, as for the CPU step; the local
// step is a GPUOptimizer. The exchange: this rank's pieces are packed
// (device to device) into its segment of a staging buffer allocated once,
// the segments are broadcast root by root (broadcast_params) or allgathered
// (ZeRO; segments padded to the largest) in one NCCL group on the caller's
// stream, an event recorded after them is polled together with NCCL's
// asynchronous error until the communicator's deadline, and only then are
// the other ranks' segments unpacked into the parameters.
//
//===----------------------------------------------------------------------===//

#include "optim/Runtime/DistributedGPU.h"

#include "CommunicatorImpl.h"
#include "NCCL.h"
#include "ShardPlan.h"
#include "StepDescription.h"

#include "optim/Runtime/CUDADriver.h"

#include "llvm/ADT/Hashing.h"
#include "llvm/Support/xxhash.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <thread>

using namespace optim::runtime;
using namespace optim::runtime::detail;
using llvm::Error;
using llvm::Expected;

namespace {
/// Segments in the staging buffer start at multiples of this many bytes.
constexpr int64_t kSegmentAlignment = 256;

int64_t alignUp(int64_t bytes) {
  return (bytes + kSegmentAlignment - 1) / kSegmentAlignment *
         kSegmentAlignment;
}

cuda::DevicePtr devicePtr(const void *pointer) {
  return static_cast<cuda::DevicePtr>(reinterpret_cast<std::uintptr_t>(pointer));
}
} // namespace

class GPUShardedOptimizer::Impl : public detail::ShardedState {
public:
  std::unique_ptr<GPUOptimizer> local;

  // Device and NCCL.
  int device = 0;
  cuda::Driver *driver = nullptr;
  cuda::ContextHandle context = nullptr;
  const nccl::Library *library = nullptr;
  nccl::CommHandle ncclComm = nullptr;
  /// Rank 0's id (generated when compiling on rank 0).
  nccl::UniqueId id{};
  /// The staging buffer, allocated once; given up (never freed) after a
  /// failure, when NCCL may still write into it.
  cuda::DevicePtr staging = 0;
  std::size_t stagingBytes = 0;
  cuda::EventHandle event = nullptr;
  /// Per rank: payload bytes and the offset of its segment in the staging
  /// buffer. ZeRO: every segment `segmentStride` bytes (the largest,
  /// aligned), for ncclAllGather.
  std::vector<int64_t> segmentBytes, segmentOffsets;
  int64_t segmentStride = 0;
  bool failed = false;

  ~Impl() {
    if (!driver)
      return;
    if (failed)
      return;
    if (ncclComm)
      (void)library->api().commDestroy(ncclComm);
    llvm::consumeError(driver->destroyEvent(context, event));
    llvm::consumeError(driver->free(context, staging));
  }

  /// What the exchange waits for, for an error message.
  std::string describeExchange() const {
    if (mode != ShardMode::BroadcastParams)
      return "the NCCL allgather of the parameters";
    std::string roots;
    int count = 0, n = static_cast<int>(segmentBytes.size());
    for (int r = 0; r < n; ++r)
      if (segmentBytes[r] > 0)
        ++count;
    int seen = 0;
    for (int r = 0; r < n; ++r) {
      if (segmentBytes[r] == 0)
        continue;
      ++seen;
      if (seen > 1)
        roots += seen == count ? " and " : ", ";
      roots += std::to_string(r);
    }
    return std::string("the NCCL broadcasts of the parameters of rank") +
           (count > 1 ? "s " : " ") + roots;
  }

  /// Aborts NCCL, breaks the communicator and gives up the staging buffer.
  Error fail(const std::string &message) {
    failed = true;
    if (ncclComm) {
      (void)library->api().commAbort(ncclComm);
      ncclComm = nullptr;
    }
    return comm->impl->fail(message);
  }

  Error exchange(llvm::ArrayRef<void *> params, cuda::StreamHandle stream);
};

GPUShardedOptimizer::GPUShardedOptimizer(std::unique_ptr<Impl> impl)
    : impl(std::move(impl)) {}
GPUShardedOptimizer::~GPUShardedOptimizer() = default;

Expected<std::unique_ptr<GPUShardedOptimizer>>
GPUShardedOptimizer::compile(llvm::StringRef source,
                             std::shared_ptr<Communicator> comm,
                             ShardMode mode, GradientReduction reduction,
                             const GPUCompileOptions &options, int device) {
  if (!comm)
    return makeDistributedError("a sharded optimizer needs a communicator");
  Communicator::Impl &c = *comm->impl;
  if (!c.failure.empty())
    return c.broken();
  auto compiled =
      compileOnRank(source, comm, mode, reduction, options, device);
  std::string problem;
  if (!compiled)
    problem = llvm::toString(compiled.takeError());
  if (Error error = c.agreeOnCompilation(
          "compiling the sharded GPU step", problem, source,
          static_cast<unsigned>(mode), static_cast<unsigned>(reduction),
          /*target=*/1, options.pipelineOptions))
    return error;
  Impl &s = *(*compiled)->impl;
  // NCCL's communicator: rank 0's id to every rank over MPI, then
  // ncclCommInitRank (which returns when every rank has joined).
  auto id = comm->broadcast(
      llvm::StringRef(s.id.internal, sizeof(s.id.internal)), 0);
  if (!id)
    return id.takeError();
  if (id->size() != sizeof(s.id.internal))
    return makeDistributedError("NCCL's unique id arrived with " +
                                llvm::Twine(id->size()) + " bytes");
  std::memcpy(s.id.internal, id->data(), sizeof(s.id.internal));
  problem.clear();
  {
    auto scope = cuda::ContextScope::enter(*s.driver, s.context);
    if (!scope) {
      problem = llvm::toString(scope.takeError());
    } else {
      nccl::CommHandle handle = nullptr;
      int result = s.library->api().commInitRank(&handle, c.size, s.id, c.rank);
      if (result != nccl::kSuccess)
        problem = llvm::toString(
            s.library->makeError("ncclCommInitRank", result));
      else
        s.ncclComm = handle;
    }
  }
  if (Error error = c.agree("initialising NCCL", problem, 0, ""))
    return error;
  return compiled;
}

Expected<std::unique_ptr<GPUShardedOptimizer>>
GPUShardedOptimizer::compileOnRank(llvm::StringRef source,
                                   std::shared_ptr<Communicator> comm,
                                   ShardMode mode, GradientReduction reduction,
                                   const GPUCompileOptions &options,
                                   int device) {
  int n = comm->getSize();
  int rank = comm->getRank();
  if (reduction != GradientReduction::None)
    return makeDistributedError(
        "a sharded GPU step does not reduce gradients: pass gradients that "
        "are already the same on every rank (GradientReduction::None)");
  auto plan = ShardPlan::get(source, rank, n, mode, reduction,
                             /*hostGradientControl=*/false);
  if (!plan)
    return plan.takeError();
  for (const ParamInfo &info : plan->description.params)
    if (info.sparse)
      return makeDistributedError(
          "the GPU runtime takes dense parameters only; '" + info.name +
          "' has a sparse (row) gradient");
  auto fault = Fault::fromEnvironment();
  if (!fault)
    return fault.takeError();
  auto library = nccl::Library::get();
  if (!library)
    return library.takeError();
  auto driver = cuda::Driver::get();
  if (!driver)
    return driver.takeError();
  auto context = driver->getPrimaryContext(device);
  if (!context)
    return context.takeError();

  auto impl = std::make_unique<Impl>();
  impl->comm = std::move(comm);
  impl->adopt(*plan);
  impl->fault = *fault;
  impl->device = device;
  impl->library = &*library;
  if (!plan->localSource.empty()) {
    auto local = GPUOptimizer::compile(plan->localSource, options);
    if (!local)
      return makeDistributedError("compiling rank " + llvm::Twine(rank) +
                                  "'s part of the step: " +
                                  llvm::toString(local.takeError()));
    impl->local = std::move(*local);
    if (Error error = impl->setLocal(rank, plan->pieceNames,
                                     impl->local->getParams(),
                                     impl->local->hasMasterWeights()))
      return error;
    if (Error error = impl->local->load(device))
      return error;
  }
  // The staging buffer's layout.
  impl->segmentBytes.assign(n, 0);
  for (int r = 0; r < n; ++r)
    for (const ShardPiece &piece : impl->pieces[r])
      impl->segmentBytes[r] += impl->pieceBytes(piece);
  impl->segmentOffsets.assign(n, 0);
  int64_t total = 0;
  if (impl->mode == ShardMode::BroadcastParams) {
    for (int r = 0; r < n; ++r) {
      impl->segmentOffsets[r] = total;
      total += alignUp(impl->segmentBytes[r]);
    }
  } else {
    impl->segmentStride = alignUp(*std::max_element(
        impl->segmentBytes.begin(), impl->segmentBytes.end()));
    for (int r = 0; r < n; ++r)
      impl->segmentOffsets[r] = r * impl->segmentStride;
    total = n * impl->segmentStride;
  }
  auto staging = driver->allocate(*context, static_cast<std::size_t>(total));
  if (!staging)
    return staging.takeError();
  impl->staging = *staging;
  impl->stagingBytes = static_cast<std::size_t>(total);
  impl->driver = &*driver;
  impl->context = *context;
  auto event = driver->createEvent(*context);
  if (!event)
    return event.takeError();
  impl->event = *event;
  if (rank == 0) {
    int result = library->api().getUniqueId(&impl->id);
    if (result != nccl::kSuccess)
      return library->makeError("ncclGetUniqueId", result);
  }
  return std::unique_ptr<GPUShardedOptimizer>(
      new GPUShardedOptimizer(std::move(impl)));
}

ShardMode GPUShardedOptimizer::getMode() const { return impl->mode; }
Communicator &GPUShardedOptimizer::getCommunicator() const {
  return *impl->comm;
}
int GPUShardedOptimizer::getDevice() const { return impl->device; }
llvm::ArrayRef<ParamInfo> GPUShardedOptimizer::getParams() const {
  return impl->description.params;
}
llvm::ArrayRef<std::string> GPUShardedOptimizer::getStateNames() const {
  return impl->description.stateNames;
}
unsigned GPUShardedOptimizer::getNumGroups() const {
  return impl->description.numGroups;
}
llvm::ArrayRef<ShardPiece> GPUShardedOptimizer::getPieces(int rank) const {
  return impl->piecesOf(rank);
}
llvm::ArrayRef<ShardPiece> GPUShardedOptimizer::getLocalPieces() const {
  return impl->localPieces;
}
GPUOptimizer *GPUShardedOptimizer::getLocalOptimizer() const {
  return impl->local.get();
}
llvm::ArrayRef<ParamInfo> GPUShardedOptimizer::getLocalParams() const {
  return impl->localParams;
}
const ExchangeStats &GPUShardedOptimizer::getLastStats() const {
  return impl->stats;
}

Error GPUShardedOptimizer::initStates(llvm::ArrayRef<void *> params,
                                      llvm::ArrayRef<void *> localStates,
                                      void *stream) {
  if (Error error = impl->checkLocalStateCount(localStates.size()))
    return error;
  if (!impl->local)
    return Error::success();
  if (!impl->local->hasMasterWeights())
    return impl->local->initStates(impl->forLocal(localStates), stream);
  const std::vector<ParamInfo> &infos = impl->description.params;
  if (params.size() != infos.size())
    return makeDistributedError("expected " + llvm::Twine(infos.size()) +
                                " parameter buffers, got " +
                                llvm::Twine(params.size()));
  std::vector<void *> localParams;
  for (const ShardPiece &piece : impl->localPieces)
    localParams.push_back(params[piece.param]
                              ? impl->pieceAddress(params[piece.param], piece)
                              : nullptr);
  return impl->local->initStatesFromParams(localParams, localStates, stream);
}

Error GPUShardedOptimizer::setHyperParam(unsigned group, llvm::StringRef name,
                                         double value) {
  return impl->setHyperParam(group, name, value, impl->local.get());
}

Expected<double> GPUShardedOptimizer::getHyperParam(unsigned group,
                                                    llvm::StringRef name) const {
  return impl->description.getHyperParam(impl->table, group, name);
}

int64_t GPUShardedOptimizer::getGlobalStep() const { return impl->globalStep; }

Error GPUShardedOptimizer::setGlobalStep(int64_t step) {
  if (Error error = detail::StepDescription::checkGlobalStepValue(step))
    return error;
  if (impl->local)
    if (Error error = impl->local->setGlobalStep(step))
      return error;
  impl->globalStep = step;
  return Error::success();
}

Error GPUShardedOptimizer::refuseStep(llvm::StringRef problem) {
  return impl->refuse(problem);
}

Error GPUShardedOptimizer::step(llvm::ArrayRef<void *> params,
                                llvm::ArrayRef<void *> grads,
                                llvm::ArrayRef<void *> localStates,
                                void *stream) {
  Communicator::Impl &c = *impl->comm->impl;
  if (!c.failure.empty())
    return c.broken();
  auto cuStream = static_cast<cuda::StreamHandle>(stream);
  // Local validation, then agreement: every rank learns whether all ranks
  // may step, before any of them enqueues anything.
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
  if (problem.empty()) {
    auto capturing = impl->driver->isCapturing(impl->context, cuStream);
    if (!capturing)
      problem = llvm::toString(capturing.takeError());
    else if (*capturing)
      problem = "a sharded GPU step cannot be captured in a CUDA graph (the "
                "host waits for its exchange)";
  }
  if (Error error = c.agree("the step", problem, 0, ""))
    return error;
  if (impl->local)
    if (Error error =
            impl->local->step(localParams, localGrads,
                              impl->forLocal(localStates), stream))
      // The other ranks wait for this rank's part of the exchange in vain.
      return impl->fail("rank " + std::to_string(c.rank) +
                        "'s local step failed: " +
                        llvm::toString(std::move(error)));
  impl->fault.inject(c.rank, impl->globalStep);
  ++impl->globalStep;
  return impl->exchange(params, cuStream);
}

Error GPUShardedOptimizer::Impl::exchange(llvm::ArrayRef<void *> params,
                                          cuda::StreamHandle stream) {
  Communicator::Impl &c = *comm->impl;
  int n = c.size;
  auto start = std::chrono::steady_clock::now();
  auto pieceAddress = [&](const ShardPiece &piece) {
    return devicePtr(ShardedState::pieceAddress(params[piece.param], piece));
  };
  // Pack this rank's pieces into its segment.
  int64_t at = segmentOffsets[c.rank];
  for (const ShardPiece &piece : pieces[c.rank]) {
    if (Error error = driver->copyDeviceToDeviceAsync(
            context, staging + at, pieceAddress(piece), pieceBytes(piece),
            stream))
      return fail("packing rank " + std::to_string(c.rank) +
                  "'s parameters: " + llvm::toString(std::move(error)));
    at += pieceBytes(piece);
  }
  // The collectives, one group on the stream.
  const nccl::EntryPoints &api = library->api();
  std::string what = describeExchange();
  {
    auto scope = cuda::ContextScope::enter(*driver, context);
    if (!scope)
      return fail(llvm::toString(scope.takeError()));
    int result = api.groupStart();
    if (result != nccl::kSuccess)
      return fail(llvm::toString(library->makeError("ncclGroupStart", result)));
    int firstError = nccl::kSuccess;
    std::string failedCall;
    auto note = [&](int code, const std::string &call) {
      if (code != nccl::kSuccess && firstError == nccl::kSuccess) {
        firstError = code;
        failedCall = call;
      }
    };
    void *base = reinterpret_cast<void *>(static_cast<std::uintptr_t>(staging));
    if (mode == ShardMode::BroadcastParams) {
      for (int root = 0; root < n; ++root) {
        if (segmentBytes[root] == 0)
          continue;
        void *segment = static_cast<char *>(base) + segmentOffsets[root];
        note(api.broadcast(segment, segment, segmentBytes[root], nccl::kUint8,
                           root, ncclComm, stream),
             "ncclBroadcast of rank " + std::to_string(root) + "'s parameters");
      }
    } else if (segmentStride > 0) {
      void *mine = static_cast<char *>(base) + segmentOffsets[c.rank];
      note(api.allGather(mine, base, segmentStride, nccl::kUint8, ncclComm,
                         stream),
           "ncclAllGather of the parameters");
    }
    note(api.groupEnd(), "ncclGroupEnd");
    if (firstError != nccl::kSuccess)
      return fail(llvm::toString(library->makeError(failedCall, firstError)) +
                  " on rank " + std::to_string(c.rank));
  }
  if (Error error = driver->recordEvent(context, event, stream))
    return fail("after starting " + what + ": " +
                llvm::toString(std::move(error)));
  // Wait: the event, and NCCL's asynchronous error, until the deadline.
  // Polled as MPI's waits are (detail::PollPacer).
  using Clock = std::chrono::steady_clock;
  auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(c.timeout));
  detail::PollPacer pacer;
  while (true) {
    auto complete = driver->queryEvent(context, event);
    if (!complete)
      return fail("waiting for " + what + " on rank " +
                  std::to_string(c.rank) + ": " +
                  llvm::toString(complete.takeError()));
    if (*complete)
      break;
    int asyncError = nccl::kSuccess;
    int result = api.commGetAsyncError(ncclComm, &asyncError);
    if (result != nccl::kSuccess)
      return fail(llvm::toString(
          library->makeError("ncclCommGetAsyncError", result)));
    if (asyncError != nccl::kSuccess && asyncError != nccl::kInProgress)
      return fail("NCCL failed in " + what + " on rank " +
                  std::to_string(c.rank) + ": " +
                  library->describeResult(asyncError));
    if (Clock::now() >= deadline) {
      char seconds[32];
      std::snprintf(seconds, sizeof(seconds), "%g", c.timeout);
      return fail(what + " did not complete within " + seconds +
                  " s on rank " + std::to_string(c.rank) +
                  ": a rank has died or stalled");
    }
    pacer.wait();
  }
  // Everything arrived: the other ranks' pieces, from their segments.
  for (int r = 0; r < n; ++r) {
    if (r == c.rank)
      continue;
    int64_t from = segmentOffsets[r];
    for (const ShardPiece &piece : pieces[r]) {
      if (Error error = driver->copyDeviceToDeviceAsync(
              context, pieceAddress(piece), staging + from, pieceBytes(piece),
              stream))
        return fail("unpacking rank " + std::to_string(r) +
                    "'s parameters: " + llvm::toString(std::move(error)));
      from += pieceBytes(piece);
    }
  }
  ExchangeStats next;
  next.bytesSent = segmentBytes[c.rank];
  next.bytesReceived =
      std::accumulate(segmentBytes.begin(), segmentBytes.end(), int64_t(0)) -
      segmentBytes[c.rank];
  next.exchangeSeconds =
      std::chrono::duration<double>(Clock::now() - start).count();
  stats = next;
  return Error::success();
}
