//===- optim-fuzz.cpp - libFuzzer target over the optim-mlir pipelines ----===//
//
// One input is an 8-byte header that selects the pipeline and its options,
// followed by MLIR text. The text is parsed and verified with every dialect
// optim-opt registers; with exactly one `optim.optimizer`, its step ABI is
// computed as optim-compile does; then the module runs through the CPU
// pipeline (`--optim-lower-to-cpu`) and is translated to LLVM IR, or
// through the GPU pipeline (`--optim-lower-to-gpu`) down to PTX.
//
// Diagnostics are expected and swallowed. Crashes, aborts, LLVM fatal
// errors, sanitizer reports, leaks and hangs are findings.
//
// Header bytes (a missing byte reads as 0; index 0 of every table is the
// pipeline's default, so a zero header is the default pipeline):
//   0  flags: bit 0 GPU (else CPU), bit 1 constant-hyper-params=1,
//      bit 2 share-update-functions=0, bit 3 lower-host=0, bit 4 format=bin
//   1  chunk-size      5  block-size
//   2  vector-bytes    6  chip
//   3  unroll          7  features
//   4  num-threads
// Each byte indexes its table modulo the table's size; the tables hold
// valid, boundary and out-of-range values.
//
// With OPTIM_FUZZ_VERBOSE=1 in the environment, each input prints the
// equivalent optim-opt command line and its diagnostics (to reproduce a
// finding without the fuzzer: tools/optim-fuzz/... see the docs).
//
//===----------------------------------------------------------------------===//

#include "optim/Dialect/Optim/IR/Optim.h"
#include "optim/Dialect/Optim/IR/SourceCheck.h"
#include "optim/Dialect/Optim/Transforms/StepABI.h"
#include "optim/Pipelines/Pipelines.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>

using namespace mlir;

namespace {

constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();

// Index 0: the pipeline's default (left unset).
const int64_t kChunkSizes[] = {0,  64, 16, 1024,  4096,    1,       2,
                               3,  7,  0,  -1,    -64,     255,     1 << 20,
                               int64_t(1) << 31,  kI64Max, kI64Min};
const int64_t kVectorBytes[] = {0,  64, 16,   8,   4,       2,
                                1,  0,  -1,   -32, 3,       12,
                                48, 128, 1024, int64_t(1) << 40, kI64Max,
                                kI64Min};
const int64_t kUnrolls[] = {0, 1, 4, 8, 3, 0, -1, 16, 1024, kI64Max, kI64Min};
const unsigned kNumThreads[] = {0, 1, 2, 4, 64, 1000000,
                                std::numeric_limits<unsigned>::max()};
const int64_t kBlockSizes[] = {0,  128,  32,     64,      1024,   1,
                               0,  -1,   2048,   33,      100000, kI64Max,
                               kI64Min};
const char *const kChips[] = {"sm_90", "sm_80",  "sm_70", "sm_60",
                              "sm_50", "sm_100", "sm_90a", "",
                              "sm_XX", "sm_",    "gfx90a", "sm_99999999999"};
const char *const kFeatures[] = {"",        "+ptx80",  "+ptx70", "+ptx60",
                                 "+ptx87",  "+ptx999", "-ptx80", "garbage",
                                 "+ptx80,+ptx60"};
constexpr size_t kHeaderSize = 8;

template <typename T, size_t N>
const T &pick(const T (&table)[N], uint8_t byte) {
  return table[byte % N];
}
template <typename T, size_t N>
bool isDefault(const T (&)[N], uint8_t byte) {
  return byte % N == 0;
}

/// The pipeline and its options, decoded from the header.
struct Config {
  bool gpu = false;
  optim::CPUPipelineOptions cpu;
  optim::GPUPipelineOptions gpuOptions;
  std::string text; // as optim-opt options, for reproducing

  explicit Config(const uint8_t header[kHeaderSize]) {
    uint8_t flags = header[0];
    gpu = flags & 1;
    llvm::raw_string_ostream os(text);
    auto add = [&](StringRef name, auto value) {
      os << (text.empty() ? "" : " ") << name << "=" << value;
    };
    if (!gpu) {
      if (flags & 2)
        cpu.constantHyperParams = true, add("constant-hyper-params", 1);
      if (flags & 4)
        cpu.shareUpdateFunctions = false, add("share-update-functions", 0);
      if (!isDefault(kChunkSizes, header[1]))
        cpu.chunkSize = pick(kChunkSizes, header[1]),
        add("chunk-size", int64_t(cpu.chunkSize));
      if (!isDefault(kVectorBytes, header[2]))
        cpu.vectorBytes = pick(kVectorBytes, header[2]),
        add("vector-bytes", int64_t(cpu.vectorBytes));
      if (!isDefault(kUnrolls, header[3]))
        cpu.unroll = pick(kUnrolls, header[3]),
        add("unroll", int64_t(cpu.unroll));
      if (!isDefault(kNumThreads, header[4]))
        cpu.numThreads = pick(kNumThreads, header[4]),
        add("num-threads", unsigned(cpu.numThreads));
      return;
    }
    gpuOptions.chip = pick(kChips, header[6]);
    add("chip", std::string(gpuOptions.chip));
    if (!isDefault(kFeatures, header[7]))
      gpuOptions.features = pick(kFeatures, header[7]),
      add("features", std::string(gpuOptions.features));
    if (flags & 2)
      gpuOptions.constantHyperParams = true, add("constant-hyper-params", 1);
    if (flags & 8)
      gpuOptions.lowerHost = false, add("lower-host", 0);
    if (flags & 16)
      gpuOptions.format = "bin", add("format", "bin");
    if (!isDefault(kChunkSizes, header[1]))
      gpuOptions.chunkSize = pick(kChunkSizes, header[1]),
      add("chunk-size", int64_t(gpuOptions.chunkSize));
    if (!isDefault(kBlockSizes, header[5]))
      gpuOptions.blockSize = pick(kBlockSizes, header[5]),
      add("block-size", int64_t(gpuOptions.blockSize));
  }

  std::string commandLine() const {
    return std::string("optim-opt --optim-lower-to-") + (gpu ? "gpu" : "cpu") +
           "=\"" + text + "\"";
  }
};

bool isVerbose() {
  static const bool verbose = [] {
    const char *value = std::getenv("OPTIM_FUZZ_VERBOSE");
    return value && *value && *value != '0';
  }();
  return verbose;
}

const DialectRegistry &getRegistry() {
  static const DialectRegistry *registry = [] {
    auto *r = new DialectRegistry;
    optim::registerOptimDialects(*r);
    return r;
  }();
  return *registry;
}

/// What optim-compile computes from the parsed optimizer before it runs a
/// pipeline: the resolved groups and the step's ABI, and what its headers
/// print of it.
void computeStepABI(ModuleOp module) {
  auto optimizers = llvm::to_vector(module.getOps<optim::OptimizerOp>());
  if (optimizers.size() != 1)
    return;
  optim::resolveGroups(optimizers.front());
  optim::StepABI abi = optim::StepABI::get(optimizers.front());
  (void)abi.getTableSize();
  (void)abi.getInitialTable();
  if (abi.hasStatus())
    (void)abi.getInitialStatus();
  for (auto [index, param] : llvm::enumerate(abi.getParams())) {
    (void)abi.getTablePosition(index);
    (void)param.type.getNumElements();
    for (unsigned s = 0; s < abi.getStates().size(); ++s)
      (void)abi.getStateNumElements(index, s);
  }
  for (const optim::StateSpec *state : abi.getStates())
    for (unsigned g = 0; g < abi.getGroups().size(); ++g)
      (void)abi.getStateInitValue(*state, g);
}

void runOne(const uint8_t *data, size_t size) {
  uint8_t header[kHeaderSize] = {};
  size_t headerSize = std::min(size, kHeaderSize);
  std::copy(data, data + headerSize, header);
  Config config(header);
  StringRef text(reinterpret_cast<const char *>(data) + headerSize,
                 size - headerSize);
  bool verbose = isVerbose();
  if (verbose)
    llvm::errs() << "optim-fuzz: " << config.commandLine() << "\n";

  MLIRContext context(getRegistry(), MLIRContext::Threading::DISABLED);
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
    if (verbose)
      llvm::errs() << "optim-fuzz: diagnostic: " << diag.getLocation()
                   << ": " << diag << "\n";
    return success();
  });

  // Parsing verifies. MLIR's lexer (and our attribute parsers) read up to
  // the NUL that a MemoryBuffer guarantees after the text, as in optim-opt.
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(text, "fuzz-input"), llvm::SMLoc());
  // What the tools refuse before parsing (optim/Dialect/Optim/IR/SourceCheck.h).
  if (mlir::optim::findUnsupportedSyntax(text))
    return;
  OwningOpRef<ModuleOp> module =
      parseSourceFile<ModuleOp>(sourceMgr, ParserConfig(&context));
  if (!module)
    return;
  computeStepABI(*module);

  PassManager pm(&context);
  if (config.gpu)
    optim::buildOptimGPUPipeline(pm, config.gpuOptions);
  else
    optim::buildOptimCPUPipeline(pm, config.cpu);
  if (failed(pm.run(*module)))
    return;
  // The GPU step ends at its PTX (optim-compile --target cuda and the
  // runtime read the kernels and the launches from the module).
  if (config.gpu)
    return;
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(*module, llvmContext, "fuzz");
  if (verbose)
    llvm::errs() << "optim-fuzz: "
                 << (llvmModule ? "translated to LLVM IR"
                                : "translation to LLVM IR failed")
                 << "\n";
}

/// An LLVM fatal error is a finding: abort, which libFuzzer reports.
void fatalErrorHandler(void *, const char *reason, bool) {
  llvm::errs() << "optim-fuzz: LLVM fatal error: " << reason << "\n";
  std::abort();
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  llvm::install_fatal_error_handler(fatalErrorHandler, nullptr);
  (void)getRegistry();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  runOne(data, size);
  return 0;
}
