// The sharded GPU step (DistributedGPU.h) on a machine without a GPU: the
// fake CUDA driver (cuda_stub.c) keeps "device memory" in host memory and
// records kernel launches without running them; the fake NCCL
// (nccl_stub.c) runs the collectives over MPI. Since no kernel runs, each
// rank writes values of its own (rank- and step-specific) into its pieces
// before a step: after it, every rank must hold each piece's owner's values.
//
//   gpu_distributed_main exchange FILE OUT   both modes, two steps each;
//                                            a refused step; a refused
//                                            gradient reduction
//   gpu_distributed_main stall FILE OUT      a step in which a rank stalls
//                                            (OPTIM_DIST_FAULT): exits 1
//   gpu_distributed_main mixed FILE OUT      mixed precision, both modes
//   gpu_distributed_main compile FILE OUT    compiling alone (no NCCL)
//
// Rank r writes to OUT.r (unbuffered: a rank may be killed).

#include "optim/Runtime/CUDADriver.h"
#include "optim/Runtime/DistributedGPU.h"

#include "gpu_stub_support.h"

#include "llvm/Support/MemoryBuffer.h"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace optim::runtime;
using namespace gpu_stub_support;

namespace {

/// The bits rank `rank` gives element `e` of parameter `p` before step
/// `step` (as many low bytes as the element has; distinct in 16 bits).
std::uint32_t valueOf(int rank, int step, size_t p, int64_t e) {
  return static_cast<std::uint32_t>((rank + 1) * 10000 + step * 1000 +
                                    p * 100 + e % 64);
}
/// What rank `rank` fills every parameter with first.
std::uint32_t garbageOf(int rank) { return 0xEE00u + rank; }

void store(void *buffer, DType dtype, int64_t e, std::uint32_t bits) {
  unsigned size = getElementSize(dtype);
  std::memcpy(static_cast<char *>(buffer) + e * size, &bits, size);
}
bool holds(const void *buffer, DType dtype, int64_t e, std::uint32_t bits) {
  unsigned size = getElementSize(dtype);
  return std::memcmp(static_cast<const char *>(buffer) + e * size, &bits,
                     size) == 0;
}

struct Buffers {
  std::vector<void *> params, grads, states;
  ~Buffers() {
    for (void *p : params)
      std::free(p);
    for (void *p : grads)
      std::free(p);
    for (void *p : states)
      std::free(p);
  }
};

void *allocate(int64_t bytes) {
  size_t size = static_cast<size_t>((bytes + 255) / 256 * 256);
  return std::aligned_alloc(256, size ? size : 256);
}

/// Every parameter with this rank's garbage everywhere, gradients, and the
/// local states (a 0-element state is null).
void makeBuffers(GPUShardedOptimizer &opt, Buffers &b, int rank) {
  for (const ParamInfo &info : opt.getParams()) {
    int64_t bytes = info.numElements * getElementSize(info.dtype);
    void *param = allocate(bytes);
    for (int64_t e = 0; e < info.numElements; ++e)
      store(param, info.dtype, e, garbageOf(rank));
    b.params.push_back(param);
    b.grads.push_back(allocate(bytes));
  }
  for (const ParamInfo &info : opt.getLocalParams())
    for (size_t s = 0; s < info.stateNumElements.size(); ++s)
      b.states.push_back(
          info.stateNumElements[s]
              ? allocate(info.stateNumElements[s] *
                         getElementSize(info.stateDTypes[s]))
              : nullptr);
}

/// Writes this rank's values for `step` into its own pieces.
void fillOwn(GPUShardedOptimizer &opt, Buffers &b, int rank, int step) {
  for (const ShardPiece &piece : opt.getPieces(rank)) {
    DType dtype = opt.getParams()[piece.param].dtype;
    for (int64_t e = piece.offset; e < piece.offset + piece.count; ++e)
      store(b.params[piece.param], dtype, e,
            valueOf(rank, step, piece.param, e));
  }
}

/// Elements of rank `owner`'s pieces equal to its values of `step` (step
/// -1: rank `filler`'s garbage).
int64_t countMatching(GPUShardedOptimizer &opt, Buffers &b, int owner,
                      int step, int64_t &total, int filler = 0) {
  int64_t matching = 0;
  for (const ShardPiece &piece : opt.getPieces(owner)) {
    DType dtype = opt.getParams()[piece.param].dtype;
    for (int64_t e = piece.offset; e < piece.offset + piece.count; ++e) {
      ++total;
      matching += holds(b.params[piece.param], dtype, e,
                        step < 0 ? garbageOf(filler)
                                 : valueOf(owner, step, piece.param, e));
    }
  }
  return matching;
}

void printPieces(GPUShardedOptimizer &opt, int rank) {
  std::printf("pieces:");
  for (const ShardPiece &piece : opt.getPieces(rank))
    std::printf(" %s[%lld:%lld]", opt.getParams()[piece.param].name.c_str(),
                static_cast<long long>(piece.offset),
                static_cast<long long>(piece.offset + piece.count));
  std::printf("\n");
}

/// Whether launches [first, first + local launches) are the local step's
/// kernels, their buffer table holding the pieces' pointers.
void checkLaunches(GPUShardedOptimizer &opt, Buffers &b, long first) {
  GPUOptimizer *local = opt.getLocalOptimizer();
  auto name = stubFunction<const char *(long)>("optimStubLaunchName");
  auto param = stubFunction<unsigned long long(long, int)>(
      "optimStubLaunchParam");
  long count = stubCounter("optimStubLaunches") - first;
  if (!local) {
    std::printf("launches %ld (no local step)\n", count);
    return;
  }
  size_t numStates = opt.getStateNames().size();
  bool names = count == static_cast<long>(local->getLaunches().size());
  bool pointers = true;
  int tables = 0;
  for (long i = 0; names && i < count; ++i) {
    const GPUKernelLaunch &launch = local->getLaunches()[i];
    const char *launched = name(first + i);
    names &= launched && launch.name == launched;
    for (size_t a = 0; a < launch.arguments.size(); ++a) {
      if (launch.arguments[a] != 0)
        continue;
      // Buffer table 0 (float32): per piece, parameter, gradient, states.
      struct Descriptor {
        std::uint64_t allocated, aligned;
        std::int64_t offset, size, stride;
      };
      ++tables;
      const auto *entries = reinterpret_cast<const Descriptor *>(
          static_cast<uintptr_t>(param(first + i, 5 * a)));
      size_t entry = 0;
      for (size_t k = 0; k < opt.getLocalPieces().size(); ++k) {
        const ShardPiece &piece = opt.getLocalPieces()[k];
        char *base = static_cast<char *>(b.params[piece.param]);
        char *grad = static_cast<char *>(b.grads[piece.param]);
        for (size_t buffer = 0; buffer < 2 + numStates; ++buffer, ++entry) {
          void *expected = buffer == 0   ? base + piece.offset * 4
                           : buffer == 1 ? grad + piece.offset * 4
                                         : b.states[k * numStates + buffer - 2];
          const Descriptor &d = entries[entry];
          pointers &= d.aligned == reinterpret_cast<uintptr_t>(expected) &&
                      d.size == piece.count;
        }
      }
    }
  }
  std::printf("launches %ld: the local step's kernels %d, tables read %d, "
              "their pointers the pieces' %d\n",
              count, names, tables > 0, pointers);
}

std::string readSource(const char *path) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer) {
    std::printf("cannot read %s\n", path);
    std::exit(2);
  }
  return (*buffer)->getBuffer().str();
}

cuda::StreamHandle makeStream() {
  auto driver = cuda::Driver::get();
  if (!driver)
    return nullptr;
  auto context = driver->getPrimaryContext(0);
  if (!context)
    return nullptr;
  auto stream = driver->createStream(*context);
  return stream ? *stream : nullptr;
}

GPUCompileOptions sm90() {
  GPUCompileOptions options;
  options.chip = "sm_90";
  return options;
}

/// The sharded step of `source` (no gradient reduction, sm_90), or null
/// after printing why it did not compile.
std::unique_ptr<GPUShardedOptimizer>
compileOrPrint(const std::string &source, std::shared_ptr<Communicator> shared,
               ShardMode mode) {
  auto compiled = GPUShardedOptimizer::compile(
      source, std::move(shared), mode, GradientReduction::None, sm90());
  if (!compiled) {
    std::printf("compile: error: %s\n",
                llvm::toString(compiled.takeError()).c_str());
    return nullptr;
  }
  return std::move(*compiled);
}

int runExchange(const std::string &source, Communicator &comm,
                std::shared_ptr<Communicator> shared) {
  int rank = comm.getRank();
  auto reduced = GPUShardedOptimizer::compile(
      source, shared, ShardMode::FromSource, GradientReduction::Sum, sm90());
  std::printf("with a gradient reduction: %s\n",
              reduced ? "compiled"
                      : llvm::toString(reduced.takeError()).c_str());
  cuda::StreamHandle stream = makeStream();
  for (ShardMode mode : {ShardMode::BroadcastParams, ShardMode::Zero}) {
    std::printf("-- %s\n", mode == ShardMode::Zero ? "zero" : "broadcast_params");
    auto compiled = compileOrPrint(source, shared, mode);
    if (!compiled)
      return 1;
    GPUShardedOptimizer &opt = *compiled;
    printPieces(opt, rank);
    Buffers b;
    makeBuffers(opt, b, rank);
    if (llvm::Error error = opt.initStates(b.params, b.states, stream)) {
      std::printf("init states: error: %s\n",
                  llvm::toString(std::move(error)).c_str());
      return 1;
    }
    for (int step = 0; step < 2; ++step) {
      fillOwn(opt, b, rank, step);
      long launches = stubCounter("optimStubLaunches");
      long copies = stubCounter("optimStubDtoDCopies");
      std::printf("step %d\n", step);
      if (llvm::Error error = opt.step(b.params, b.grads, b.states, stream)) {
        std::printf("step: error: %s\n",
                    llvm::toString(std::move(error)).c_str());
        return 1;
      }
      int64_t total = 0, matching = 0;
      for (int r = 0; r < comm.getSize(); ++r)
        matching += countMatching(opt, b, r, step, total);
      std::printf("step %d: elements with their owner's values %lld of "
                  "%lld, global step %lld\n",
                  step, static_cast<long long>(matching),
                  static_cast<long long>(total),
                  static_cast<long long>(opt.getGlobalStep()));
      size_t pieces = 0;
      for (int r = 0; r < comm.getSize(); ++r)
        pieces += opt.getPieces(r).size();
      std::printf("device copies %ld (one per piece %d)\n",
                  stubCounter("optimStubDtoDCopies") - copies,
                  stubCounter("optimStubDtoDCopies") - copies ==
                      static_cast<long>(pieces));
      checkLaunches(opt, b, launches);
      const ExchangeStats &stats = opt.getLastStats();
      std::printf("sent %lld received %lld\n",
                  static_cast<long long>(stats.bytesSent),
                  static_cast<long long>(stats.bytesReceived));
    }
    // One rank's wrong arguments: every rank refuses, nothing enqueued.
    long launches = stubCounter("optimStubLaunches");
    long copies = stubCounter("optimStubDtoDCopies");
    std::vector<void *> states = b.states;
    if (rank == comm.getSize() - 1)
      states.push_back(nullptr);
    llvm::Error error = opt.step(b.params, b.grads, states, stream);
    std::printf("bad step: %s\n", error ? llvm::toString(std::move(error)).c_str()
                                        : "stepped");
    std::printf("after the bad step: launches %ld copies %ld global step %lld\n",
                stubCounter("optimStubLaunches") - launches,
                stubCounter("optimStubDtoDCopies") - copies,
                static_cast<long long>(opt.getGlobalStep()));
  }
  return 0;
}

int runMixedMode(const std::string &source, Communicator &comm,
                 std::shared_ptr<Communicator> shared, ShardMode mode,
                 cuda::StreamHandle stream);

/// Mixed precision in both modes: the local states in the whole step's
/// layout, the masters filled from the parameters' pieces, and 16-bit
/// pieces exchanged.
int runMixed(const std::string &source, Communicator &comm,
             std::shared_ptr<Communicator> shared) {
  cuda::StreamHandle stream = makeStream();
  for (ShardMode mode : {ShardMode::Zero, ShardMode::BroadcastParams}) {
    std::printf("-- %s\n",
                mode == ShardMode::Zero ? "zero" : "broadcast_params");
    if (int status = runMixedMode(source, comm, shared, mode, stream))
      return status;
  }
  return 0;
}

int runMixedMode(const std::string &source, Communicator &comm,
                 std::shared_ptr<Communicator> shared, ShardMode mode,
                 cuda::StreamHandle stream) {
  int rank = comm.getRank();
  auto compiled = compileOrPrint(source, shared, mode);
  if (!compiled)
    return 1;
  GPUShardedOptimizer &opt = *compiled;
  printPieces(opt, rank);
  std::printf("local masters %d\n", opt.getLocalOptimizer() &&
                                        opt.getLocalOptimizer()->hasMasterWeights());
  for (size_t k = 0; k < opt.getLocalParams().size(); ++k) {
    const ParamInfo &info = opt.getLocalParams()[k];
    std::printf("local %s %s:", info.name.c_str(), dtypeName(info.dtype));
    for (size_t s = 0; s < info.stateNumElements.size(); ++s)
      std::printf(" %s[%lld]", dtypeName(info.stateDTypes[s]),
                  static_cast<long long>(info.stateNumElements[s]));
    std::printf("\n");
  }
  Buffers b;
  makeBuffers(opt, b, rank);
  fillOwn(opt, b, rank, 0);
  std::printf("-- init states\n");
  if (llvm::Error error = opt.initStates(b.params, b.states, stream)) {
    std::printf("init states: error: %s\n",
                llvm::toString(std::move(error)).c_str());
    return 1;
  }
  // A bfloat16 piece's master: its values widened (bits << 16).
  size_t numStates = opt.getStateNames().size();
  int64_t checked = 0, widened = 0;
  for (size_t k = 0; k < opt.getLocalPieces().size(); ++k) {
    const ShardPiece &piece = opt.getLocalPieces()[k];
    const ParamInfo &info = opt.getLocalParams()[k];
    if (info.dtype != DType::BF16 || !info.stateNumElements[numStates - 1])
      continue;
    const auto *param =
        static_cast<const std::uint16_t *>(b.params[piece.param]) +
        piece.offset;
    const auto *master = static_cast<const std::uint32_t *>(
        b.states[k * numStates + numStates - 1]);
    for (int64_t e = 0; e < piece.count; ++e, ++checked)
      widened += master[e] == static_cast<std::uint32_t>(param[e]) << 16;
  }
  std::printf("bfloat16 masters from their pieces %lld of %lld\n",
              static_cast<long long>(widened),
              static_cast<long long>(checked));
  long launches = stubCounter("optimStubLaunches");
  std::printf("-- step\n");
  if (llvm::Error error = opt.step(b.params, b.grads, b.states, stream)) {
    std::printf("step: error: %s\n", llvm::toString(std::move(error)).c_str());
    return 1;
  }
  int64_t total = 0, matching = 0;
  for (int r = 0; r < comm.getSize(); ++r)
    matching += countMatching(opt, b, r, 0, total);
  std::printf("elements with their owner's values %lld of %lld\n",
              static_cast<long long>(matching),
              static_cast<long long>(total));
  std::printf("launches: the local step's %d\n",
              opt.getLocalOptimizer() &&
                  stubCounter("optimStubLaunches") - launches ==
                      static_cast<long>(
                          opt.getLocalOptimizer()->getLaunches().size()));
  return 0;
}

int runStall(const std::string &source, Communicator &comm,
             std::shared_ptr<Communicator> shared) {
  int rank = comm.getRank();
  cuda::StreamHandle stream = makeStream();
  auto compiled = compileOrPrint(source, shared, ShardMode::FromSource);
  if (!compiled)
    return 2;
  GPUShardedOptimizer &opt = *compiled;
  Buffers b;
  makeBuffers(opt, b, rank);
  for (int step = 0; step < 3; ++step) {
    fillOwn(opt, b, rank, step);
    std::printf("step %d\n", step);
    auto start = std::chrono::steady_clock::now();
    llvm::Error error = opt.step(b.params, b.grads, b.states, stream);
    double seconds = std::chrono::duration<double>(
                         std::chrono::steady_clock::now() - start)
                         .count();
    if (!error) {
      std::printf("step %d done\n", step);
      continue;
    }
    std::printf("step %d: error: %s\n", step,
                llvm::toString(std::move(error)).c_str());
    std::printf("within the timeout: %d\n",
                seconds < comm.getTimeout() + 5);
    // Own pieces hold this step's values; every other piece still the
    // previous step's.
    int64_t ownTotal = 0, total = 0, received = 0;
    int64_t own = countMatching(opt, b, rank, step, ownTotal);
    // Before the first step: this rank's initial fill.
    for (int r = 0; r < comm.getSize(); ++r)
      if (r != rank)
        received += countMatching(opt, b, r, step - 1, total, rank);
    std::printf("own pieces updated %d, received pieces unchanged %d (%lld "
                "elements)\n",
                own == ownTotal, received == total,
                static_cast<long long>(total));
    llvm::Error again = opt.step(b.params, b.grads, b.states, stream);
    std::printf("again: %s\n", again ? llvm::toString(std::move(again)).c_str()
                                     : "stepped");
    return 1;
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s exchange|mixed|stall|compile FILE OUT\n",
                 argv[0]);
    return 2;
  }
  std::string mode = argv[1];
  std::string source = readSource(argv[2]);
  auto world = Communicator::world();
  if (!world) {
    std::fprintf(stderr, "%s\n", llvm::toString(world.takeError()).c_str());
    return 2;
  }
  std::shared_ptr<Communicator> comm = *world;
  std::string out = std::string(argv[3]) + "." + std::to_string(comm->getRank());
  if (!std::freopen(out.c_str(), "w", stdout))
    return 2;
  std::setvbuf(stdout, nullptr, _IONBF, 0);
  std::printf("rank %d of %d\n", comm->getRank(), comm->getSize());
  int status = 0;
  if (mode == "exchange") {
    status = runExchange(source, *comm, comm);
  } else if (mode == "mixed") {
    status = runMixed(source, *comm, comm);
  } else if (mode == "stall") {
    status = runStall(source, *comm, comm);
  } else {
    auto compiled = GPUShardedOptimizer::compile(
        source, comm, ShardMode::FromSource, GradientReduction::None, sm90());
    std::printf("compile: %s\n",
                compiled ? "compiled"
                         : llvm::toString(compiled.takeError()).c_str());
  }
  std::printf("exit %d\n", status);
  return status;
}
