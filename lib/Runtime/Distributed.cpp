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

#include "ParsedOptimizer.h"
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
using llvm::Error;
using llvm::Expected;

static Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

//===----------------------------------------------------------------------===//
// MPI initialisation
//===----------------------------------------------------------------------===//

namespace {
/// Whether this library initialised MPI, and whether some communicator
/// failed with requests still pending (MPI_Finalize would then wait for
/// them forever: the process exits without it).
struct MPIState {
  std::mutex mutex;
  bool initialisedHere = false;
  bool failed = false;
  std::weak_ptr<Communicator> world;
};
MPIState &getMPIState() {
  static MPIState *state = new MPIState();
  return *state;
}

void finalizeAtExit() {
  MPIState &state = getMPIState();
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (state.initialisedHere && !state.failed && !finalized)
    MPI_Finalize();
}

std::string mpiErrorText(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS)
    return "MPI error " + std::to_string(code);
  return std::string(text, length);
}

/// Every collective moves units of 64 bytes, so that an int count covers
/// 128 GiB per rank; segments are padded to whole units.
constexpr int64_t kUnit = 64;
int64_t toUnits(int64_t bytes) { return (bytes + kUnit - 1) / kUnit; }
} // namespace

//===----------------------------------------------------------------------===//
// Communicator
//===----------------------------------------------------------------------===//

class Communicator::Impl {
public:
  MPI_Comm comm = MPI_COMM_NULL;
  MPI_Datatype unit = MPI_DATATYPE_NULL;
  int rank = 0;
  int size = 1;
  double timeout = 60.0;
  std::string failure;
  ExchangeStats stats;
  /// Reused between calls; on a failure it is given up (MPI may still write
  /// into it), never freed.
  std::vector<char> *staging = new std::vector<char>();
  std::vector<char> *sendStaging = new std::vector<char>();

  ~Impl() {
    if (failure.empty()) {
      delete staging;
      delete sendStaging;
      if (unit != MPI_DATATYPE_NULL)
        MPI_Type_free(&unit);
      int finalized = 0;
      MPI_Finalized(&finalized);
      if (comm != MPI_COMM_NULL && !finalized)
        MPI_Comm_free(&comm);
    }
  }

  Error broken() const {
    return makeError("the communicator failed earlier and cannot be used "
                     "again: " +
                     failure);
  }

  Error fail(const std::string &message) {
    failure = message;
    std::lock_guard<std::mutex> lock(getMPIState().mutex);
    getMPIState().failed = true;
    return makeError(message);
  }

  Error check(int code, llvm::StringRef what) {
    if (code == MPI_SUCCESS)
      return Error::success();
    return fail(("MPI error in " + what + ": " + mpiErrorText(code)).str());
  }

  /// Waits for `requests` until the deadline; `describe(i)` names what
  /// request i was, for the error of one that did not complete. MPI moves
  /// data only inside its calls (MPI_Testall here), so the first 20 ms poll
  /// with a yield between calls, then with 20 microsecond sleeps; after a
  /// second (a rank is late or gone) the sleeps grow to a millisecond, so a
  /// waiting rank does not take a core from the ranks it waits for.
  Error wait(llvm::MutableArrayRef<MPI_Request> requests,
             llvm::function_ref<std::string(size_t)> describe) {
    using Clock = std::chrono::steady_clock;
    auto start = Clock::now();
    auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(timeout));
    std::chrono::microseconds pause(0);
    while (true) {
      int done = 0;
      int code = MPI_Testall(static_cast<int>(requests.size()),
                             requests.data(), &done, MPI_STATUSES_IGNORE);
      if (code != MPI_SUCCESS)
        return fail("MPI error while waiting for " + describe(0) + ": " +
                    mpiErrorText(code));
      if (done)
        return Error::success();
      if (Clock::now() >= deadline) {
        std::vector<std::string> pending;
        for (size_t i = 0; i < requests.size(); ++i) {
          int flag = 0;
          if (requests[i] != MPI_REQUEST_NULL)
            MPI_Test(&requests[i], &flag, MPI_STATUS_IGNORE);
          if (requests[i] != MPI_REQUEST_NULL && !flag)
            pending.push_back(describe(i));
        }
        if (pending.empty())
          return Error::success();
        char seconds[32];
        std::snprintf(seconds, sizeof(seconds), "%g", timeout);
        std::string list = pending.front();
        for (size_t i = 1; i < pending.size(); ++i)
          list += (i + 1 == pending.size() ? " and " : ", ") + pending[i];
        return fail(list + " did not complete within " + seconds +
                    " s on rank " + std::to_string(rank) +
                    ": a rank has died or stalled");
      }
      auto waited = Clock::now() - start;
      if (waited < std::chrono::milliseconds(20)) {
        std::this_thread::yield();
        continue;
      }
      if (waited < std::chrono::seconds(1))
        pause = std::chrono::microseconds(20);
      else
        pause = std::min(std::max(pause * 2, std::chrono::microseconds(20)),
                         std::chrono::microseconds(1000));
      std::this_thread::sleep_for(pause);
    }
  }

  /// Every rank learns whether all ranks succeeded (`problem` empty) and
  /// passed the same `hash`; the lowest failing rank's problem becomes every
  /// rank's error, prefixed by `what`.
  Error agree(llvm::StringRef what, const std::string &problem, uint64_t hash,
              llvm::StringRef mismatch) {
    uint64_t values[3] = {hash, ~hash,
                          problem.empty() ? 0 : uint64_t(size - rank)};
    if (Error error = run(("the agreement on " + what).str(),
                          [&](MPI_Request *r) {
                            return MPI_Iallreduce(MPI_IN_PLACE, values, 3,
                                                  MPI_UINT64_T, MPI_MAX, comm,
                                                  r);
                          }))
      return error;
    if (values[0] != hash || values[1] != ~hash)
      return makeError(mismatch);
    if (values[2] == 0)
      return Error::success();
    int failed = size - static_cast<int>(values[2]);
    int64_t length = static_cast<int64_t>(problem.size());
    if (Error error = run("a broadcast of a size", [&](MPI_Request *r) {
          return MPI_Ibcast(&length, 1, MPI_INT64_T, failed, comm, r);
        }))
      return error;
    std::string message = problem;
    message.resize(length);
    if (Error error = run("a broadcast of an error", [&](MPI_Request *r) {
          return MPI_Ibcast(message.data(), static_cast<int>(length), MPI_CHAR,
                            failed, comm, r);
        }))
      return error;
    return makeError(what + " failed on rank " + llvm::Twine(failed) +
                     ", and nothing changed: " + message);
  }

  /// Communicator::exchange; `checkLayout` first compares the ranks'
  /// layouts (a sharded step compares them once, when it is compiled).
  Error exchange(llvm::ArrayRef<void *> buffers, llvm::ArrayRef<int64_t> sizes,
                 llvm::ArrayRef<int> owners, bool inOrder, bool checkLayout);

  /// Runs a collective started by `start` (which returns an MPI code and
  /// fills one request) to completion.
  Error run(llvm::StringRef what,
            llvm::function_ref<int(MPI_Request *)> start) {
    MPI_Request request = MPI_REQUEST_NULL;
    if (Error error = check(start(&request), what))
      return error;
    return wait(request, [&](size_t) { return what.str(); });
  }
};

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
      return makeError("OPTIM_DIST_TIMEOUT must be a positive number of "
                       "seconds, got '" +
                       llvm::Twine(env) + "'");
    timeoutSeconds = value;
  }
  if (!(timeoutSeconds > 0) || !std::isfinite(timeoutSeconds))
    return makeError("the timeout must be a positive number of seconds");
  if (auto existing = state.world.lock()) {
    existing->impl->timeout = timeoutSeconds;
    return existing;
  }
  int initialised = 0, finalized = 0;
  MPI_Initialized(&initialised);
  MPI_Finalized(&finalized);
  if (finalized)
    return makeError("MPI has been finalised in this process");
  if (!initialised) {
    int provided = 0;
    int code = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED,
                               &provided);
    if (code != MPI_SUCCESS)
      return makeError("MPI_Init_thread failed: " + mpiErrorText(code));
    state.initialisedHere = true;
    std::atexit(finalizeAtExit);
  }
  auto impl = std::make_unique<Impl>();
  impl->timeout = timeoutSeconds;
  if (int code = MPI_Comm_dup(MPI_COMM_WORLD, &impl->comm))
    return makeError("MPI_Comm_dup failed: " + mpiErrorText(code));
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
    return makeError("the timeout must be a positive number of seconds");
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
    return std::move(error);
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
    return std::move(error);
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
    return makeError("root " + llvm::Twine(root) + " is not a rank of " +
                     llvm::Twine(impl->size));
  int64_t length = static_cast<int64_t>(data.size());
  if (Error error = impl->run("a broadcast of a size", [&](MPI_Request *r) {
        return MPI_Ibcast(&length, 1, MPI_INT64_T, root, impl->comm, r);
      }))
    return std::move(error);
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
    return std::move(error);
  }
  return std::string(buffer.data(), length);
}

Error Communicator::allreduceSum(void *data, int64_t count, DType dtype) {
  if (!impl->failure.empty())
    return impl->broken();
  if (dtype != DType::F32 && dtype != DType::F64)
    return makeError("allreduceSum takes float32 or float64 elements");
  if (count < 0 || (count > 0 && !data))
    return makeError("allreduceSum: a null buffer or a negative count");
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
    return makeError("exchange: " + llvm::Twine(buffers.size()) +
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
      return makeError("exchange: owner " + llvm::Twine(owners[i]) +
                       " of buffer " + llvm::Twine(i) + " is not a rank of " +
                       llvm::Twine(n));
    if (sizes[i] < 0)
      return makeError("exchange: negative size of buffer " + llvm::Twine(i));
    if (sizes[i] > 0 && !buffers[i])
      return makeError("exchange: null buffer " + llvm::Twine(i));
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
    return makeError("exchange: the ranks passed different buffer sizes or "
                     "owners");

  std::vector<int> counts(n), displs(n);
  int64_t total = 0;
  for (int r = 0; r < n; ++r) {
    int64_t units = toUnits(bytes[r]);
    if (units > std::numeric_limits<int>::max() ||
        total > std::numeric_limits<int>::max() - units)
      return makeError("exchange: more than 128 GiB");
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
// The shard plan and the local step's IR
//===----------------------------------------------------------------------===//

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

//===----------------------------------------------------------------------===//
// ShardedOptimizer
//===----------------------------------------------------------------------===//

class ShardedOptimizer::Impl {
public:
  std::shared_ptr<Communicator> comm;
  ShardMode mode = ShardMode::Zero;
  GradientReduction reduction = GradientReduction::None;
  detail::StepDescription description;
  /// The full table, for checking and reading values on every rank.
  std::vector<double> table;
  std::vector<std::vector<ShardPiece>> pieces;
  std::unique_ptr<Optimizer> local;
  /// Full group -> local group (-1: no local parameter in it).
  std::vector<int> groupMap;
  /// Slots before the first group's in the table (StepABI).
  unsigned numGlobalSlots = 0;
  int64_t globalStep = 0;
  ExchangeStats stats;
  /// The exchange's buffers (every rank's pieces), sizes and owners.
  std::vector<void *> exchangeBuffers;
  std::vector<int64_t> exchangeSizes;
  std::vector<int> exchangeOwners;
  /// Reduced gradients of the local pieces (GradientReduction::Sum/Mean).
  std::vector<char> reduced;
  /// OPTIM_DIST_FAULT: a failure to inject, for testing the failure path.
  struct Fault {
    int rank = -1;
    int64_t step = -1;
    std::string action;
  } fault;

  /// This rank's pieces in the local step's order (of its states), and
  /// for each of its pieces in plan order, its index there.
  std::vector<ShardPiece> localPieces;
  std::vector<size_t> localIndexOfPlan;
  /// Per group: its learning rate is a value of the table.
  std::vector<bool> constantRate;
  Error reduceGradients(llvm::ArrayRef<void *> grads,
                        std::vector<void *> &localGrads);
};

ShardedOptimizer::ShardedOptimizer(std::unique_ptr<Impl> impl)
    : impl(std::move(impl)) {}
ShardedOptimizer::~ShardedOptimizer() = default;

Expected<std::unique_ptr<ShardedOptimizer>>
ShardedOptimizer::compile(llvm::StringRef source,
                          std::shared_ptr<Communicator> comm, ShardMode mode,
                          GradientReduction reduction,
                          const CompileOptions &options) {
  if (!comm)
    return makeError("a sharded optimizer needs a communicator");
  Communicator::Impl &c = *comm->impl;
  if (!c.failure.empty())
    return c.broken();
  auto compiled = compileOnRank(source, comm, mode, reduction, options);
  // Every rank must compile the same optimizer the same way, and all must
  // succeed: the plan and the exchange's layout follow from them.
  std::string problem;
  if (!compiled)
    problem = llvm::toString(compiled.takeError());
  uint64_t hash = llvm::xxh3_64bits(source);
  hash = llvm::hashing::detail::hash_16_bytes(
      hash, (static_cast<uint64_t>(mode) << 8) | static_cast<uint64_t>(reduction));
  hash = llvm::hashing::detail::hash_16_bytes(
      hash, llvm::xxh3_64bits(options.pipelineOptions));
  if (Error error = c.agree(
          "compiling the sharded step", problem, hash,
          "the ranks compiled different optimizers: the source, the sharding, "
          "the gradient reduction or the pipeline options differ"))
    return std::move(error);
  return compiled;
}

Expected<std::unique_ptr<ShardedOptimizer>>
ShardedOptimizer::compileOnRank(llvm::StringRef source,
                                std::shared_ptr<Communicator> comm,
                                ShardMode mode, GradientReduction reduction,
                                const CompileOptions &options) {
  using namespace mlir::optim;
  if (static_cast<unsigned>(mode) > static_cast<unsigned>(ShardMode::Zero))
    return makeError("unknown sharding mode");
  if (static_cast<unsigned>(reduction) >
      static_cast<unsigned>(GradientReduction::Mean))
    return makeError("unknown gradient reduction");
  auto parsed = detail::ParsedOptimizer::parse(source);
  if (!parsed)
    return parsed.takeError();
  OptimizerOp optimizer = (*parsed)->getOptimizer();
  if (mode == ShardMode::FromSource)
    mode = optimizer.getSharding() == Sharding::broadcast_params
               ? ShardMode::BroadcastParams
               : ShardMode::Zero;
  if (optimizer.getMaxGradNorm() || optimizer.getDynamicLossScale())
    return makeError(
        "a sharded step does not support max_grad_norm or dynamic loss "
        "scaling yet (their norm and finiteness check span every rank's "
        "gradients): clip and check the full gradients before the step");
  StepABI abi = StepABI::get(optimizer);
  auto description = detail::StepDescription::get(abi);
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

  auto impl = std::make_unique<Impl>();
  impl->comm = std::move(comm);
  impl->mode = mode;
  impl->reduction = reduction;
  impl->description = std::move(*description);
  impl->table = impl->description.initialTable;
  impl->numGlobalSlots = abi.getNumGlobalSlots();
  int n = impl->comm->getSize();
  int rank = impl->comm->getRank();
  impl->pieces = planShards(abi, mode, n);
  if (const char *text = std::getenv("OPTIM_DIST_FAULT")) {
    // "rank=R,step=K,action=stall|kill": rank R stalls or dies in global
    // step K, after its update and before the parameter exchange.
    Impl::Fault fault;
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
    impl->fault = fault;
  }

  // The local step: the optimizer with only this rank's pieces, each split
  // piece a 1-D parameter of its own; empty groups and order_params go (the
  // local order does not matter: no update reads another parameter).
  llvm::StringMap<llvm::SmallVector<const ShardPiece *, 2>> byName;
  for (const ShardPiece &piece : impl->pieces[rank])
    byName[abi.getParams()[piece.param].name].push_back(&piece);
  mlir::OpBuilder b(optimizer.getContext());
  optimizer.removeShardingAttr();
  mlir::Block &body = optimizer.getBody().front();
  for (OrderParamsOp order : llvm::make_early_inc_range(
           body.getOps<OrderParamsOp>()))
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
      impl->groupMap.push_back(-1);
      group.erase();
    } else {
      impl->groupMap.push_back(numLocalGroups++);
    }
  }
  if (numLocalGroups > 0) {
    std::string text;
    llvm::raw_string_ostream os(text);
    (*parsed)->getModule().print(os);
    auto local = Optimizer::compile(text, options);
    if (!local)
      return makeError("compiling rank " + llvm::Twine(rank) +
                       "'s part of the step: " +
                       llvm::toString(local.takeError()));
    impl->local = std::move(*local);
    // The local step orders its parameters by group: the local pieces
    // follow it, the plan (and so the exchange, the same on every rank)
    // keeps the step's order.
    llvm::StringMap<size_t> localIndex;
    for (const auto &[k, info] : llvm::enumerate(impl->local->getParams()))
      localIndex[info.name] = k;
    const std::vector<ShardPiece> &own = impl->pieces[rank];
    impl->localPieces.resize(own.size());
    for (const ShardPiece &piece : own) {
      size_t k = localIndex.lookup(pieceName(abi.getParams()[piece.param],
                                             piece));
      impl->localPieces[k] = piece;
      impl->localIndexOfPlan.push_back(k);
    }
  }
  for (size_t g = 0; g < abi.getGroups().size(); ++g)
    impl->constantRate.push_back(
        abi.getGroups()[g].hasConstantLearningRate());

  for (int r = 0; r < n; ++r)
    for (const ShardPiece &piece : impl->pieces[r]) {
      const ParamInfo &info = impl->description.params[piece.param];
      impl->exchangeSizes.push_back(piece.count *
                                    getElementSize(info.dtype));
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
  if (rank < 0 || rank >= static_cast<int>(impl->pieces.size()))
    return {};
  return impl->pieces[rank];
}
llvm::ArrayRef<ShardPiece> ShardedOptimizer::getLocalPieces() const {
  return impl->localPieces;
}
const Optimizer *ShardedOptimizer::getLocalOptimizer() const {
  return impl->local.get();
}
const ExchangeStats &ShardedOptimizer::getLastStats() const {
  return impl->stats;
}

Error ShardedOptimizer::initStates(llvm::ArrayRef<void *> localStates) const {
  if (!impl->local) {
    if (!localStates.empty())
      return makeError("this rank keeps no state, got " +
                       llvm::Twine(localStates.size()) + " buffers");
    return Error::success();
  }
  return impl->local->initStates(localStates);
}

Error ShardedOptimizer::setHyperParam(unsigned group, llvm::StringRef name,
                                      double value) {
  detail::StepDescription &d = impl->description;
  auto slot = d.findSlot(group, name);
  if (!slot)
    return slot.takeError();
  std::vector<double> table = impl->table;
  if (Error error = d.setHyperParam(table, group, name, value))
    return error;
  if (impl->local) {
    // A value of the group, or one every group shares (the same slot in
    // group 0 and this group).
    int localGroup = impl->groupMap[group];
    // A global slot (at the head of the table: loss scale, clipping) is
    // every group's: any local group takes it.
    if (*slot < impl->numGlobalSlots)
      localGroup = 0;
    if (localGroup >= 0)
      if (Error error =
              impl->local->setHyperParam(localGroup, name, value))
        return error;
  }
  impl->table = std::move(table);
  return Error::success();
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

Error ShardedOptimizer::setNumThreads(int numThreads) {
  if (!impl->local)
    return numThreads < 0 ? makeError("negative thread count")
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
      sendBytes[r] += piece.count *
                      getElementSize(description.params[piece.param].dtype);
  int64_t mine = sendBytes[c.rank];
  std::vector<int> sendCounts(n), sendDispls(n), recvCounts(n),
      recvDispls(n);
  int64_t sendTotal = 0;
  for (int r = 0; r < n; ++r) {
    int64_t units = toUnits(sendBytes[r]);
    if (units > std::numeric_limits<int>::max() ||
        sendTotal > std::numeric_limits<int>::max() - units ||
        toUnits(mine) * n > std::numeric_limits<int>::max())
      return makeError("reduce-scatter of more than 128 GiB");
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
      size_t size = getElementSize(description.params[piece.param].dtype);
      std::memcpy(cursor,
                  static_cast<char *>(grads[piece.param]) +
                      piece.offset * size,
                  piece.count * size);
      cursor += piece.count * size;
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
    size_t size = getElementSize(dtype);
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
    at += piece.count * size;
  }
  return Error::success();
}

Error ShardedOptimizer::refuseStep(llvm::StringRef problem) {
  Communicator::Impl &c = *impl->comm->impl;
  if (!c.failure.empty())
    return c.broken();
  std::string text = problem.empty() ? "refused by the caller" : problem.str();
  return c.agree("the step", text, 0, "");
}

Error ShardedOptimizer::step(llvm::ArrayRef<void *> params,
                             llvm::ArrayRef<void *> grads,
                             llvm::ArrayRef<void *> localStates) {
  Communicator::Impl &c = *impl->comm->impl;
  if (!c.failure.empty())
    return c.broken();
  const std::vector<ParamInfo> &infos = impl->description.params;
  size_t numStates = impl->description.stateNames.size();
  const std::vector<ShardPiece> &own = impl->localPieces;
  // Local validation, then agreement: every rank learns whether all ranks
  // may step, before any of them writes.
  std::string problem;
  if (params.size() != infos.size() || grads.size() != infos.size())
    problem = "expected " + std::to_string(infos.size()) +
              " parameters and gradients, got " +
              std::to_string(params.size()) + " and " +
              std::to_string(grads.size());
  else if (localStates.size() != own.size() * numStates)
    problem = "expected " + std::to_string(own.size() * numStates) +
              " local state buffers (" + std::to_string(own.size()) +
              " pieces), got " + std::to_string(localStates.size());
  else if (Error error =
               detail::StepDescription::checkStepCounter(impl->globalStep))
    problem = llvm::toString(std::move(error));
  else
    for (size_t i = 0; i < infos.size() && problem.empty(); ++i)
      if (infos[i].numElements > 0 && (!params[i] || !grads[i]))
        problem = "null buffer for parameter '" + infos[i].name + "'";
  std::vector<void *> localParams(own.size()), localGrads(own.size());
  if (problem.empty()) {
    for (size_t k = 0; k < own.size(); ++k) {
      const ShardPiece &piece = own[k];
      size_t offset =
          piece.offset * getElementSize(infos[piece.param].dtype);
      localParams[k] = static_cast<char *>(params[piece.param]) + offset;
      localGrads[k] =
          infos[piece.param].sparse
              ? grads[piece.param]
              : static_cast<char *>(grads[piece.param]) + offset;
    }
    if (impl->local)
      if (Error error =
              impl->local->checkStep(localParams, localGrads, localStates))
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
  stats.reduceSeconds = std::chrono::duration<double>(
                            std::chrono::steady_clock::now() - start)
                            .count();
  if (impl->local)
    if (Error error = impl->local->step(localParams, localGrads, localStates))
      return error;
  if (impl->fault.rank == c.rank && impl->fault.step == impl->globalStep) {
    if (impl->fault.action == "kill")
      std::raise(SIGKILL);
    while (true)
      std::this_thread::sleep_for(std::chrono::hours(1));
  }
  ++impl->globalStep;
  size_t e = 0;
  for (size_t r = 0; r < impl->pieces.size(); ++r)
    for (const ShardPiece &piece : impl->pieces[r])
      impl->exchangeBuffers[e++] =
          static_cast<char *>(params[piece.param]) +
          piece.offset * getElementSize(infos[piece.param].dtype);
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
      grad += piece.count * getElementSize(infos[piece.param].dtype);
    int64_t all = 0;
    for (const ParamInfo &info : infos)
      all += info.numElements * getElementSize(info.dtype);
    stats.bytesSent += all - grad;
    stats.bytesReceived += grad * (c.size - 1);
  }
  impl->stats = stats;
  return Error::success();
}
