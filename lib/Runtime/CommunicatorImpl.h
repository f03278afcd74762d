//===- CommunicatorImpl.h - MPI state of a Communicator ---------*- C++ -*-===//
//
// The implementation of Communicator, shared by the sharded steps of every
// target (Distributed.cpp, and a GPU step's agreement and failure state):
// MPI's non-blocking collectives waited on with a deadline, the agreement
// of all ranks on a step, and the broken state after a failure.
//
//===----------------------------------------------------------------------===//

#ifndef LIB_RUNTIME_COMMUNICATORIMPL_H
#define LIB_RUNTIME_COMMUNICATORIMPL_H

#include "optim/Runtime/Distributed.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/Hashing.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/xxhash.h"
#include "llvm/Support/Error.h"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace optim::runtime::detail {

/// The pauses between the polls of a wait for other ranks. Data moves only
/// while we poll (MPI progresses inside its calls), so the first 20 ms
/// poll with a yield between calls, then with 20 microsecond sleeps; after
/// a second (a rank is late or gone) the sleeps grow to a millisecond, so
/// a waiting rank does not take a core from the ranks it waits for.
class PollPacer {
public:
  void wait() {
    auto waited = std::chrono::steady_clock::now() - start;
    if (waited < std::chrono::milliseconds(20)) {
      std::this_thread::yield();
      return;
    }
    if (waited < std::chrono::seconds(1))
      pause = std::chrono::microseconds(20);
    else
      pause = std::min(std::max(pause * 2, std::chrono::microseconds(20)),
                       std::chrono::microseconds(1000));
    std::this_thread::sleep_for(pause);
  }

private:
  std::chrono::steady_clock::time_point start =
      std::chrono::steady_clock::now();
  std::chrono::microseconds pause{0};
};

inline llvm::Error makeDistributedError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

/// Whether this library initialised MPI, and whether some communicator
/// failed with requests still pending (MPI_Finalize would then wait for
/// them forever: the process exits without it).
struct MPIState {
  std::mutex mutex;
  bool initialisedHere = false;
  bool failed = false;
  std::weak_ptr<Communicator> world;
};
inline MPIState &getMPIState() {
  static MPIState *state = new MPIState();
  return *state;
}

inline void finalizeAtExit() {
  MPIState &state = detail::getMPIState();
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (state.initialisedHere && !state.failed && !finalized)
    MPI_Finalize();
}

inline std::string mpiErrorText(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS)
    return "MPI error " + std::to_string(code);
  return std::string(text, length);
}

/// Every collective moves units of 64 bytes, so that an int count covers
/// 128 GiB per rank; segments are padded to whole units.
constexpr int64_t kUnit = 64;
inline int64_t toUnits(int64_t bytes) { return (bytes + kUnit - 1) / kUnit; }
} // namespace optim::runtime::detail

namespace optim::runtime {

class Communicator::Impl {
public:
  MPI_Comm comm = MPI_COMM_NULL;
  MPI_Datatype unit = MPI_DATATYPE_NULL;
  int rank = 0;
  int size = 1;
  double timeout = 60.0;
  /// The least a compilation's agreement waits: the ranks compile at their
  /// own speeds (the timeout is for steps, whose ranks arrive together).
  static constexpr double kMinCompileWait = 300.0;
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

  llvm::Error broken() const {
    return detail::makeDistributedError("the communicator failed earlier and cannot be used "
                     "again: " +
                     failure);
  }

  llvm::Error fail(const std::string &message) {
    failure = message;
    std::lock_guard<std::mutex> lock(detail::getMPIState().mutex);
    detail::getMPIState().failed = true;
    return detail::makeDistributedError(message);
  }

  llvm::Error check(int code, llvm::StringRef what) {
    if (code == MPI_SUCCESS)
      return llvm::Error::success();
    return fail(("MPI error in " + what + ": " + detail::mpiErrorText(code)).str());
  }

  /// Waits for `requests` until the deadline (polling MPI_Testall, paced by
  /// PollPacer); `describe(i)` names what request i was, for the error of
  /// one that did not complete.
  llvm::Error wait(llvm::MutableArrayRef<MPI_Request> requests,
             llvm::function_ref<std::string(size_t)> describe,
             double seconds = 0) {
    double limit = seconds > 0 ? seconds : timeout;
    using Clock = std::chrono::steady_clock;
    auto start = Clock::now();
    auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(limit));
    detail::PollPacer pacer;
    while (true) {
      int done = 0;
      int code = MPI_Testall(static_cast<int>(requests.size()),
                             requests.data(), &done, MPI_STATUSES_IGNORE);
      if (code != MPI_SUCCESS)
        return fail("MPI error while waiting for " + describe(0) + ": " +
                    detail::mpiErrorText(code));
      if (done)
        return llvm::Error::success();
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
          return llvm::Error::success();
        char seconds[32];
        std::snprintf(seconds, sizeof(seconds), "%g", limit);
        std::string list = pending.front();
        for (size_t i = 1; i < pending.size(); ++i)
          list += (i + 1 == pending.size() ? " and " : ", ") + pending[i];
        return fail(list + " did not complete within " + seconds +
                    " s on rank " + std::to_string(rank) +
                    ": a rank has died or stalled");
      }
      pacer.wait();
    }
  }

  /// Every rank learns whether all ranks succeeded (`problem` empty) and
  /// passed the same `hash`; the lowest failing rank's problem becomes every
  /// rank's error, prefixed by `what`.
  /// `seconds` (when > 0) replaces the timeout for its waits.
  llvm::Error agree(llvm::StringRef what, const std::string &problem,
                    uint64_t hash, llvm::StringRef mismatch,
                    double seconds = 0) {
    uint64_t values[3] = {hash, ~hash,
                          problem.empty() ? 0 : uint64_t(size - rank)};
    if (llvm::Error error = run(("the agreement on " + what).str(),
                          [&](MPI_Request *r) {
                            return MPI_Iallreduce(MPI_IN_PLACE, values, 3,
                                                  MPI_UINT64_T, MPI_MAX, comm,
                                                  r);
                          },
                          seconds))
      return error;
    if (values[0] != hash || values[1] != ~hash)
      return detail::makeDistributedError(mismatch);
    if (values[2] == 0)
      return llvm::Error::success();
    int failed = size - static_cast<int>(values[2]);
    int64_t length = static_cast<int64_t>(problem.size());
    if (llvm::Error error = run("a broadcast of a size", [&](MPI_Request *r) {
          return MPI_Ibcast(&length, 1, MPI_INT64_T, failed, comm, r);
        }, seconds))
      return error;
    std::string message = problem;
    message.resize(length);
    if (llvm::Error error = run("a broadcast of an error", [&](MPI_Request *r) {
          return MPI_Ibcast(message.data(), static_cast<int>(length), MPI_CHAR,
                            failed, comm, r);
        }, seconds))
      return error;
    return detail::makeDistributedError(what + " failed on rank " + llvm::Twine(failed) +
                     ", and nothing changed: " + message);
  }

  /// The agreement at the end of a sharded step's compilation: every rank
  /// compiled (`problem` empty) the same `source` with the same mode,
  /// reduction and pipeline options (`target` tells the targets apart).
  /// Waits at least kMinCompileWait: ranks compile at their own speeds.
  llvm::Error agreeOnCompilation(llvm::StringRef what,
                                 const std::string &problem,
                                 llvm::StringRef source, unsigned mode,
                                 unsigned reduction, unsigned target,
                                 llvm::StringRef pipelineOptions) {
    uint64_t hash = llvm::xxh3_64bits(source);
    hash = llvm::hashing::detail::hash_16_bytes(
        hash, (uint64_t(target) << 32) | (uint64_t(mode) << 8) | reduction);
    hash = llvm::hashing::detail::hash_16_bytes(
        hash, llvm::xxh3_64bits(pipelineOptions));
    return agree(what, problem, hash,
                 "the ranks compiled different optimizers: the source, the "
                 "sharding, the gradient reduction or the pipeline options "
                 "differ",
                 std::max(timeout, kMinCompileWait));
  }

  /// Communicator::exchange; `checkLayout` first compares the ranks'
  /// layouts (a sharded step compares them once, when it is compiled).
  llvm::Error exchange(llvm::ArrayRef<void *> buffers, llvm::ArrayRef<int64_t> sizes,
                 llvm::ArrayRef<int> owners, bool inOrder, bool checkLayout);

  /// Runs a collective started by `start` (which returns an MPI code and
  /// fills one request) to completion.
  llvm::Error run(llvm::StringRef what,
            llvm::function_ref<int(MPI_Request *)> start,
            double seconds = 0) {
    MPI_Request request = MPI_REQUEST_NULL;
    if (llvm::Error error = check(start(&request), what))
      return error;
    return wait(request, [&](size_t) { return what.str(); }, seconds);
  }
};

} // namespace optim::runtime

#endif // LIB_RUNTIME_COMMUNICATORIMPL_H
