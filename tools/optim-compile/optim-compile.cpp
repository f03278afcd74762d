//===- optim-compile.cpp - ahead-of-time optimizer compiler ---------------===//
//
// Compiles an `optim.optimizer` for the host CPU (or a given triple/CPU) into
// an object file plus a C header describing the step's ABI: parameter names
// and shapes, state buffers, the hyper-parameter table with its initial
// values, and inline wrappers taking plain pointers. With `--target cuda`,
// writes the step's kernels instead (one PTX or cubin image, one kernel per
// phase) and a header with the kernels' names, launch shapes and
// parameters.
//
//===----------------------------------------------------------------------===//

#include "optim/Dialect/Optim/IR/Optim.h"
#include "optim/Dialect/Optim/IR/SourceCheck.h"
#include "optim/Dialect/Optim/Transforms/StepABI.h"
#include "optim/Pipelines/Pipelines.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory category("optim-compile options");
static cl::opt<std::string> inputFilename(cl::Positional,
                                          cl::desc("<input .mlir>"),
                                          cl::init("-"), cl::cat(category));
static cl::opt<std::string> outputFilename("o",
                                           cl::desc("Output object file (or "
                                                    "PTX / cubin image)"),
                                           cl::value_desc("file"),
                                           cl::Required, cl::cat(category));
static cl::opt<std::string> headerFilename("header",
                                           cl::desc("Output C header"),
                                           cl::value_desc("file"),
                                           cl::cat(category));
static cl::opt<std::string>
    pipelineOptions("pipeline-options",
                    cl::desc("Options of optim-lower-to-cpu, e.g. "
                             "'constant-hyper-params=1 num-threads=4'"),
                    cl::init(""), cl::cat(category));
static cl::opt<std::string> targetCPU("mcpu",
                                      cl::desc("Target CPU (default: host)"),
                                      cl::init(""), cl::cat(category));
static cl::opt<std::string>
    targetKind("target", cl::desc("cpu (an object file) or cuda (kernels)"),
               cl::init("cpu"), cl::cat(category));
static cl::opt<std::string> gpuChip("chip",
                                    cl::desc("With --target cuda: the NVIDIA "
                                             "chip, e.g. sm_90"),
                                    cl::init(""), cl::cat(category));
static cl::opt<std::string>
    gpuEmit("emit", cl::desc("With --target cuda: ptx or cubin"),
            cl::init("ptx"), cl::cat(category));

/// The C name of an element type.
static StringRef dtypeName(Type type) {
  if (type.isF32())
    return "float32";
  if (type.isF64())
    return "float64";
  if (type.isF16())
    return "float16";
  if (type.isBF16())
    return "bfloat16";
  return "unknown";
}

/// Writes `text` as a C string literal that means exactly its bytes, in C
/// and C++ alike: printable ASCII as is but for `\`, `"` and `?` (no
/// trigraph can form), every other byte (controls, newlines, non-ASCII
/// UTF-8) as a three-digit octal escape, which no following digit extends.
static void writeCString(llvm::raw_ostream &os, StringRef text) {
  os << '"';
  for (unsigned char c : text) {
    if (c == '\\' || c == '"' || c == '?')
      os << '\\' << c;
    else if (c >= 0x20 && c < 0x7f)
      os << c;
    else
      os << '\\' << char('0' + (c >> 6)) << char('0' + ((c >> 3) & 7))
         << char('0' + (c & 7));
  }
  os << '"';
}

static std::string cString(StringRef text) {
  std::string result;
  llvm::raw_string_ostream os(result);
  writeCString(os, text);
  return result;
}

/// Checks that the optimizer's name can prefix the C identifiers of the
/// header (`<name>_step`, `<NAME>_NUM_PARAMS`, `OPTIM_<NAME>_H`): a letter,
/// then letters, digits and single underscores (no reserved identifier
/// comes out of it).
static LogicalResult checkCPrefix(StringRef name) {
  auto isAlpha = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  };
  auto isDigit = [](char c) { return c >= '0' && c <= '9'; };
  bool valid = !name.empty() && isAlpha(name.front()) &&
               !name.contains("__") && !name.ends_with("_") &&
               llvm::all_of(name, [&](char c) {
                 return isAlpha(c) || isDigit(c) || c == '_';
               });
  if (valid)
    return success();
  llvm::errs() << "error: the optimizer's name " << cString(name)
               << " cannot prefix C identifiers: it must be a letter "
                  "followed by letters, digits and single underscores, "
                  "not ending with one (rename its symbol, e.g. @my_opt)\n";
  return failure();
}

/// The bits of `value` in `type` (f32, f64, f16, bf16), rounded to nearest
/// even, as a C integer literal.
static std::string bitsLiteral(double value, Type type) {
  llvm::APFloat converted(value);
  bool losesInfo;
  const llvm::fltSemantics &semantics =
      mlir::cast<FloatType>(type).getFloatSemantics();
  converted.convert(semantics, llvm::APFloat::rmNearestTiesToEven,
                    &losesInfo);
  uint64_t bits = converted.bitcastToAPInt().getZExtValue();
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::format_hex(bits, 2 + type.getIntOrFloatBitWidth() / 4)
     << (type.getIntOrFloatBitWidth() > 32 ? "ull" : "u");
  return text;
}

/// Writes the C header of the compiled step. Everything it declares is
/// prefixed with the optimizer's name (`<name>_`, `<NAME>_`), so headers of
/// several optimizers can be included together; it compiles as C99 and as
/// C++ without warnings. Names from the IR appear only as escaped string
/// literals, never in comments or identifiers.
static void writeHeader(llvm::raw_ostream &os, StringRef name,
                        const optim::StepABI &abi) {
  std::string upper = name.upper();
  auto params = abi.getParams();
  auto states = abi.getStates();
  auto groups = abi.getGroups();
  auto operandHypers = abi.getSpec().getOperandHyperParams();
  // The C API's state list: the rule's states, then "master" when some
  // parameter has one (docs/Mixed-precision.md).
  unsigned numStates = abi.getNumStateBuffers();
  size_t stateArraySize = std::max<unsigned>(numStates, 1);
  size_t maxRank = 1;
  for (const optim::ParamABI &p : params)
    maxRank = std::max<size_t>(maxRank, p.type.getRank());

  os << "/* Generated by optim-compile: the ABI of optimizer '" << name
     << "' (rule " << abi.getSpec().className << "). */\n"
     << "#ifndef OPTIM_" << upper << "_H\n#define OPTIM_" << upper
     << "_H\n\n#include <stdint.h>\n#include <string.h>\n\n#ifdef "
        "__cplusplus\nextern \"C\" {\n#endif\n\n";
  os << "#define " << upper << "_NUM_PARAMS " << params.size() << "\n"
     << "#define " << upper << "_NUM_STATES " << numStates << "\n"
     << "#define " << upper << "_NUM_GROUPS " << groups.size() << "\n"
     << "#define " << upper << "_MAX_RANK " << maxRank << "\n"
     << "#define " << upper << "_TABLE_SIZE " << abi.getTableSize() << "\n"
     << "/* Mixed precision: some parameter keeps a float32 master copy, "
        "state\n   MASTER_STATE of every parameter (-1: none). */\n"
     << "#define " << upper << "_HAS_MASTER " << (abi.hasMaster() ? 1 : 0)
     << "\n#define " << upper << "_MASTER_STATE "
     << (abi.hasMaster() ? int(states.size()) : -1) << "\n\n";

  // Parameters.
  os << "/* One parameter, in the step's order. Its gradient has its dtype "
        "and shape;\n   state s has state_dtype[s] (the parameter's dtype, "
        "or float32 with mixed\n   precision) and state_numel[s] elements "
        "(0 for the master of a parameter\n   without one). */\n"
     << "typedef struct {\n"
     << "  const char *name;      /* as written in the IR */\n"
     << "  const char *dtype;     /* \"float32\", \"float64\", \"float16\" "
        "or \"bfloat16\" */\n"
     << "  int32_t element_size;  /* bytes */\n"
     << "  int32_t rank;\n"
     << "  int64_t shape[" << upper << "_MAX_RANK];\n"
     << "  int64_t numel;\n"
     << "  int32_t group;         /* index into " << name
     << "_hyper_t.groups */\n"
     << "  int32_t decay;         /* 1 if weight decay applies */\n"
     << "  int64_t state_numel[" << stateArraySize << "];\n"
     << "  const char *state_dtype[" << stateArraySize << "];\n"
     << "  int32_t state_element_size[" << stateArraySize << "];\n"
     << "  int32_t has_master;    /* 1 if it keeps a float32 master copy */\n"
     << "} " << name << "_param_t;\n\n";
  os << "static const " << name << "_param_t " << name << "_params["
     << upper << "_NUM_PARAMS] = {\n";
  for (auto [index, p] : llvm::enumerate(params)) {
    Type element = p.type.getElementType();
    os << "  {";
    writeCString(os, p.name);
    os << ", \"" << dtypeName(element) << "\", "
       << element.getIntOrFloatBitWidth() / 8 << ", " << p.type.getRank()
       << ", {";
    for (size_t d = 0; d < maxRank; ++d)
      os << (d ? ", " : "")
         << (d < (size_t)p.type.getRank() ? p.type.getDimSize(d) : 0);
    os << "}, " << p.type.getNumElements() << ", " << p.group << ", "
       << (p.decay ? 1 : 0) << ", {";
    for (size_t s = 0; s < stateArraySize; ++s)
      os << (s ? ", " : "")
         << (s < numStates ? abi.getStateNumElements(index, s) : 0);
    os << "}, {";
    for (size_t s = 0; s < stateArraySize; ++s)
      if (s < numStates)
        os << (s ? ", " : "") << "\""
           << dtypeName(abi.getStateElementType(index, s)) << "\"";
      else
        os << "0";
    os << "}, {";
    for (size_t s = 0; s < stateArraySize; ++s)
      os << (s ? ", " : "")
         << (s < numStates
                 ? abi.getStateElementType(index, s).getIntOrFloatBitWidth() /
                       8
                 : 0);
    os << "}, " << (p.master ? 1 : 0) << "},\n";
  }
  os << "};\n\n";

  // States.
  os << "/* State s of every parameter: its name, and its initial value for "
        "parameter p\n   at [p * NUM_STATES + s] of "
     << name << "_state_init (the master's: the parameter's value). */\n"
     << "static const char *const " << name << "_state_names["
     << stateArraySize << "] = {";
  llvm::interleaveComma(states, os, [&](const optim::StateSpec *s) {
    writeCString(os, s->name);
  });
  if (abi.hasMaster())
    os << (states.empty() ? "" : ", ") << "\"master\"";
  if (numStates == 0)
    os << "0";
  os << "};\nstatic const double " << name << "_state_init["
     << std::max<size_t>(params.size() * numStates, 1) << "] = {";
  bool first = true;
  for (const optim::ParamABI &p : params) {
    for (const optim::StateSpec *s : states) {
      os << (first ? "" : ", ")
         << llvm::format("%.17g", abi.getStateInitValue(*s, p.group));
      first = false;
    }
    if (abi.hasMaster()) {
      os << (first ? "" : ", ") << "0";
      first = false;
    }
  }
  if (first)
    os << "0";
  os << "};\n\n";

  // Filling the states: each in its dtype, the masters from the parameters.
  os << "static inline void " << name
     << "_fill32(void *data, int64_t numel, uint32_t bits) {\n"
        "  int64_t i;\n  for (i = 0; i < numel; ++i)\n"
        "    memcpy((char *)data + 4 * i, &bits, 4);\n}\n"
     << "static inline void " << name
     << "_fill16(void *data, int64_t numel, uint16_t bits) {\n"
        "  int64_t i;\n  for (i = 0; i < numel; ++i)\n"
        "    memcpy((char *)data + 2 * i, &bits, 2);\n}\n"
     << "static inline void " << name
     << "_fill64(void *data, int64_t numel, uint64_t bits) {\n"
        "  int64_t i;\n  for (i = 0; i < numel; ++i)\n"
        "    memcpy((char *)data + 8 * i, &bits, 8);\n}\n\n";
  if (abi.hasMaster()) {
    os << "/* The float32 value of a float16 or bfloat16 (exact). */\n"
       << "static inline uint32_t " << name
       << "_bf16_to_f32_bits(uint16_t h) { return (uint32_t)h << 16; }\n"
       << "static inline uint32_t " << name
       << "_f16_to_f32_bits(uint16_t h) {\n"
          "  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;\n"
          "  uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;\n"
          "  if (exponent == 0x1fu)\n"
          "    return sign | 0x7f800000u | (mantissa << 13);\n"
          "  if (exponent != 0)\n"
          "    return sign | ((exponent + 112u) << 23) | (mantissa << 13);\n"
          "  if (mantissa == 0)\n    return sign;\n"
          "  exponent = 113u;\n"
          "  while (!(mantissa & 0x400u)) {\n"
          "    mantissa <<= 1;\n    --exponent;\n  }\n"
          "  return sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);\n"
          "}\n"
       << "static inline void " << name
       << "_master_from(void *master, const void *param, int64_t numel, "
          "int bf16) {\n"
          "  int64_t i;\n  for (i = 0; i < numel; ++i) {\n"
          "    uint16_t h;\n    uint32_t bits;\n"
          "    memcpy(&h, (const char *)param + 2 * i, 2);\n"
          "    bits = bf16 ? "
       << name << "_bf16_to_f32_bits(h) : " << name
       << "_f16_to_f32_bits(h);\n"
          "    memcpy((char *)master + 4 * i, &bits, 4);\n  }\n}\n\n";
  }
  os << "/* Fills every state with its initial value, in its dtype: "
        "states[p * NUM_STATES\n   + s] as in "
     << name
     << "_step. A master starts as its parameter's value\n   (params[p], "
        "read only for the masters; params may be null without them). "
        "*/\nstatic inline void "
     << name
     << "_init_states(void *const *params, void *const *states) {\n";
  for (auto [index, p] : llvm::enumerate(params)) {
    for (unsigned s = 0; s < numStates; ++s) {
      int64_t numel = abi.getStateNumElements(index, s);
      if (numel == 0)
        continue;
      std::string buffer =
          "states[" + std::to_string(index * numStates + s) + "]";
      if (s == states.size()) { // The master.
        os << "  " << name << "_master_from(" << buffer << ", params["
           << index << "], " << numel << ", "
           << (p.type.getElementType().isBF16() ? 1 : 0) << ");\n";
        continue;
      }
      Type type = abi.getStateElementType(index, s);
      os << "  " << name << "_fill" << type.getIntOrFloatBitWidth() << "("
         << buffer << ", " << numel << ", "
         << bitsLiteral(abi.getStateInitValue(*states[s], p.group), type)
         << ");\n";
    }
  }
  os << "  (void)params;\n  (void)states;\n}\n\n";

  // The hyper-parameter table as a struct of doubles.
  os << "/* The hyper-parameters: run-time values, read by every step. A "
        "group whose\n   learning rate is a schedule ignores its "
        "learning_rate field. */\n"
     << "typedef struct {\n  double learning_rate;\n  double weight_decay;\n";
  for (const optim::HyperParamSpec *h : operandHypers)
    os << "  double " << h->name << ";\n";
  os << "} " << name << "_group_hyper_t;\n\n"
     << "typedef struct {\n";
  for (StringRef global : abi.getGlobalSlotNames())
    os << "  double " << global << ";\n";
  os << "  " << name << "_group_hyper_t groups[" << upper
     << "_NUM_GROUPS];\n} " << name << "_hyper_t;\n\n";
  os << "/* The step reads the struct as TABLE_SIZE doubles. */\n"
     << "typedef char " << name << "_hyper_layout_check[sizeof(" << name
     << "_hyper_t) == " << upper
     << "_TABLE_SIZE * sizeof(double) ? 1 : -1];\n\n";
  SmallVector<double> table = abi.getInitialTable();
  os << "/* The values written in the IR. */\nstatic const " << name
     << "_hyper_t " << name << "_initial_hyper = {";
  for (unsigned k = 0; k < abi.getNumGlobalSlots(); ++k)
    os << llvm::format("%.17g", table[k]) << ", ";
  os << "{";
  for (auto [g, group] : llvm::enumerate(groups)) {
    os << (g ? ", " : "") << "{";
    for (unsigned k = 0; k < abi.getNumGroupSlots(); ++k)
      os << (k ? ", " : "")
         << llvm::format("%.17g", table[group.tableOffset + k]);
    os << "}";
  }
  os << "}};\n\n";

  if (abi.hasStatus()) {
    os << "/* The step's own state (clipping, dynamic loss scaling): the "
          "step reads and\n   writes it. found_inf: the last step's "
          "gradients held an inf or a NaN"
       << (abi.hasDynamicLossScale()
               ? " (it then\n   changed nothing: do not advance the global "
                 "step)"
               : "")
       << "; grad_norm: their\n   unscaled global norm. */\n"
       << "typedef struct {\n  double loss_scale;\n  double good_steps;\n"
          "  double found_inf;\n  double grad_norm;\n  double "
          "clip_factor;\n} "
       << name << "_status_t;\n\nstatic const " << name << "_status_t "
       << name << "_initial_status = {";
    llvm::interleaveComma(abi.getInitialStatus(), os, [&](double v) {
      os << llvm::format("%.17g", v);
    });
    os << "};\n\n";
  }

  // The compiled functions: buffer tables of 1-D memref descriptors (see
  // StepABI.h).
  os << "typedef struct {\n  void *allocated;\n  void *aligned;\n  int64_t "
        "offset;\n  int64_t sizes[1];\n  int64_t strides[1];\n} "
     << name << "_memref1_t;\n\n";
  ArrayRef<Type> tableTypes = abi.getTableElementTypes();
  os << "/* Defined in the object file. */\nvoid " << name
     << "_step_memref(";
  for (size_t t = 0; t < tableTypes.size(); ++t)
    os << name << "_memref1_t *buffers_" << dtypeName(tableTypes[t])
       << ", ";
  os << name << "_memref1_t *table, ";
  if (abi.hasStatus())
    os << name << "_memref1_t *status, ";
  os << "int64_t step);\n";
  os << "void " << name << "_lr_memref(" << name
     << "_memref1_t *table, int64_t step, " << name
     << "_memref1_t *out);\n\n";
  os << "static inline " << name << "_memref1_t " << name
     << "_memref1(void *data, int64_t numel) {\n  " << name
     << "_memref1_t m;\n  m.allocated = data;\n  m.aligned = data;\n  "
        "m.offset = 0;\n  m.sizes[0] = numel;\n  m.strides[0] = 1;\n  "
        "return m;\n}\n\n";

  // The wrapper over plain pointers fills the buffer tables: every buffer
  // goes to the table of its own element type (StepABI::getTableEntries).
  ArrayRef<unsigned> tableCounts = abi.getTableSizes();
  os << "/* One step in place. params[p], grads[p]: parameter p's data "
        "(contiguous,\n   "
     << name
     << "_params[p].numel elements); states[p * NUM_STATES + s]: its state "
        "s\n   (state_numel[s] elements of state_dtype[s]); step: the "
        "0-based global step. */\nstatic inline void "
     << name << "_step(void *const *params, void *const *grads, "
        "void *const *states, const "
     << name << "_hyper_t *hyper, ";
  if (abi.hasStatus())
    os << name << "_status_t *status, ";
  os << "int64_t step) {\n";
  for (size_t t = 0; t < tableTypes.size(); ++t)
    os << "  " << name << "_memref1_t b" << t << "["
       << std::max<unsigned>(tableCounts[t], 1) << "];\n";
  for (size_t i = 0; i < params.size(); ++i) {
    std::string p = std::to_string(i);
    std::string numel = name.str() + "_params[" + p + "].numel";
    for (auto [j, entry] : llvm::enumerate(abi.getTableEntries(i))) {
      if (!entry)
        continue;
      std::string data, count = numel;
      if (j == 0) {
        data = "params[" + p + "]";
      } else if (j == 1) {
        data = "grads[" + p + "]";
      } else {
        unsigned s = j - 2;
        data = "states[" + std::to_string(i * numStates + s) + "]";
        count = name.str() + "_params[" + p + "].state_numel[" +
                std::to_string(s) + "]";
      }
      os << "  b" << entry->table << "[" << entry->entry << "] = " << name
         << "_memref1(" << data << ", " << count << ");\n";
    }
  }
  for (size_t t = 0; t < tableTypes.size(); ++t)
    os << "  " << name << "_memref1_t t" << t << " = " << name
       << "_memref1(b" << t << ", " << tableCounts[t] << ");\n";
  os << "  " << name << "_memref1_t h = " << name
     << "_memref1((void *)hyper, " << upper << "_TABLE_SIZE);\n";
  if (abi.hasStatus())
    os << "  " << name << "_memref1_t s = " << name
       << "_memref1(status, 5);\n";
  os << "  " << name << "_step_memref(";
  for (size_t t = 0; t < tableTypes.size(); ++t)
    os << "&t" << t << ", ";
  os << "&h, " << (abi.hasStatus() ? "&s, " : "") << "step);\n}\n\n";
  os << "/* The learning rate of every group at `step` into out[NUM_GROUPS]. "
        "*/\nstatic inline void "
     << name << "_learning_rates(const " << name
     << "_hyper_t *hyper, int64_t step, double *out) {\n"
     << "  " << name << "_memref1_t t = " << name
     << "_memref1((void *)hyper, " << upper << "_TABLE_SIZE);\n  " << name
     << "_memref1_t o = " << name << "_memref1(out, " << upper
     << "_NUM_GROUPS);\n  " << name
     << "_lr_memref(&t, step, &o);\n}\n\n#ifdef __cplusplus\n}\n#endif\n\n"
        "#endif\n";
}

/// Writes the C header of the kernels of a GPU step: the ABI parts that do
/// not depend on the target, then each kernel with its launch shape and
/// parameters, in launch order.
static void writeCudaHeader(llvm::raw_ostream &os, StringRef name,
                            const optim::StepABI &abi, ModuleOp module,
                            StringRef chip, StringRef emit) {
  std::string upper = name.upper();
  os << "/* Generated by optim-compile --target cuda: the kernels of optimizer '"
     << name << "' (" << emit << " for " << chip << "). */\n"
     << "#ifndef OPTIM_" << upper << "_CUDA_H\n#define OPTIM_" << upper
     << "_CUDA_H\n\n#include <stdint.h>\n\n";
  os << "#define " << upper << "_NUM_PARAMS " << abi.getParams().size() << "\n"
     << "#define " << upper << "_NUM_STATES " << abi.getNumStateBuffers()
     << "\n"
     << "#define " << upper << "_TABLE_SIZE " << abi.getTableSize() << "\n"
     << "#define " << upper << "_HAS_MASTER " << (abi.hasMaster() ? 1 : 0)
     << "\n#define " << upper << "_MASTER_STATE "
     << (abi.hasMaster() ? int(abi.getStates().size()) : -1) << "\n\n";
  os << "/* Launch, in this order, on one stream: each kernel with\n"
        "   `grid` blocks of `block` threads and no dynamic shared memory.\n"
        "   Parameters are listed in order; a memref parameter is expanded\n"
        "   into (allocated pointer, aligned pointer, offset, sizes...,\n"
        "   strides...). Buffers must be 16-byte aligned. The global step\n"
        "   is a counter in device memory, an int64 passed as a memref of\n"
        "   one element: 0 before the first step, incremented by the last\n"
        "   kernel. */\n";
  SmallVector<gpu::LaunchFuncOp> launches;
  module.walk([&](gpu::LaunchFuncOp launch) { launches.push_back(launch); });
  os << "#define " << upper << "_NUM_KERNELS " << launches.size() << "\n";
  auto constantOf = [](Value value) -> std::string {
    IntegerAttr attr;
    if (matchPattern(value, m_Constant(&attr)))
      return std::to_string(attr.getInt());
    return "-1 /* run-time */";
  };
  for (auto [i, launch] : llvm::enumerate(launches)) {
    os << "\n/* Kernel " << i << " */\n";
    os << "#define " << upper << "_KERNEL" << i << "_NAME "
       << cString(launch.getKernelName().getValue()) << "\n";
    os << "#define " << upper << "_KERNEL" << i << "_GRID "
       << constantOf(launch.getGridSizeX()) << "\n";
    os << "#define " << upper << "_KERNEL" << i << "_BLOCK "
       << constantOf(launch.getBlockSizeX()) << "\n";
    os << "/* parameters:";
    for (Value operand : launch.getKernelOperands()) {
      os << " ";
      operand.getType().print(os);
    }
    os << " */\n";
  }
  os << "\n#endif\n";
}

/// Keeps `file` once everything is written to it; on a write error, reports
/// it and removes the file.
static LogicalResult keepOutput(llvm::ToolOutputFile &file) {
  file.os().close();
  if (file.os().has_error()) {
    llvm::errs() << "error: cannot write '" << file.getFilename()
                 << "': " << file.os().error().message() << "\n";
    file.os().clear_error();
    return failure();
  }
  file.keep();
  return success();
}

/// Writes `--header` (if given) with `write`.
static LogicalResult
writeHeaderFile(llvm::function_ref<void(llvm::raw_ostream &)> write) {
  if (headerFilename.empty())
    return success();
  std::error_code ec;
  llvm::ToolOutputFile header(headerFilename, ec, llvm::sys::fs::OF_Text);
  if (ec) {
    llvm::errs() << "error: " << ec.message() << "\n";
    return failure();
  }
  write(header.os());
  return keepOutput(header);
}

/// `--target cuda`: runs the GPU pipeline and writes its one image.
static LogicalResult compileForCuda(OwningOpRef<ModuleOp> &module,
                                    StringRef name,
                                    const optim::StepABI &abi) {
  if (gpuEmit != "ptx" && gpuEmit != "cubin") {
    llvm::errs() << "error: --emit must be ptx or cubin, got '" << gpuEmit
                 << "'\n";
    return failure();
  }
  std::string text = "chip=" + gpuChip + " format=" +
                     (gpuEmit == "ptx" ? "isa" : "bin") + " " +
                     pipelineOptions;
  auto options = optim::GPUPipelineOptions::createFromString(text);
  if (!options) {
    llvm::errs() << "error: invalid --pipeline-options '" << pipelineOptions
                 << "'\n";
    return failure();
  }
  PassManager pm(module->getContext());
  optim::buildOptimGPUPipeline(pm, *options);
  if (failed(pm.run(*module)))
    return failure();
  auto binaries = llvm::to_vector(module->getOps<gpu::BinaryOp>());
  if (binaries.size() != 1 || binaries.front().getObjects().size() != 1) {
    llvm::errs() << "error: expected one GPU image, found "
                 << binaries.size() << "\n";
    return failure();
  }
  auto object =
      cast<gpu::ObjectAttr>(binaries.front().getObjects().getValue().front());
  std::error_code ec;
  llvm::ToolOutputFile image(outputFilename, ec, llvm::sys::fs::OF_None);
  if (ec) {
    llvm::errs() << "error: " << ec.message() << "\n";
    return failure();
  }
  image.os() << object.getObject().getValue();
  if (failed(keepOutput(image)))
    return failure();
  return writeHeaderFile([&](llvm::raw_ostream &os) {
    writeCudaHeader(os, name, abi, *module, gpuChip, gpuEmit);
  });
}

static LogicalResult run(MLIRContext &context) {
  std::string errorMessage;
  auto input = openInputFile(inputFilename, &errorMessage);
  if (!input) {
    llvm::errs() << errorMessage << "\n";
    return failure();
  }
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(input), llvm::SMLoc());
  SourceMgrDiagnosticHandler handler(sourceMgr, &context);
  if (!mlir::optim::checkSupportedSyntax(sourceMgr))
    return failure();
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return failure();
  auto optimizers = llvm::to_vector(module->getOps<optim::OptimizerOp>());
  if (optimizers.size() != 1) {
    llvm::errs() << "error: expected exactly one 'optim.optimizer', found "
                 << optimizers.size() << "\n";
    return failure();
  }
  std::string name = optimizers.front().getSymName().str();
  if (failed(checkCPrefix(name)))
    return failure();
  optim::resolveGroups(optimizers.front());
  optim::StepABI abi = optim::StepABI::get(optimizers.front());
  for (const optim::ParamABI &p : abi.getParams())
    if (p.sparse) {
      llvm::errs() << "error: parameter '" << p.name
                   << "' has a sparse gradient, which ahead-of-time builds "
                      "do not support yet\n";
      return failure();
    }

  if (targetKind == "cuda")
    return compileForCuda(module, name, abi);
  if (targetKind != "cpu") {
    llvm::errs() << "error: --target must be cpu or cuda, got '"
                 << targetKind << "'\n";
    return failure();
  }
  if (!gpuChip.empty()) {
    llvm::errs() << "error: --chip needs --target cuda\n";
    return failure();
  }
  auto options = optim::CPUPipelineOptions::createFromString(pipelineOptions);
  if (!options) {
    llvm::errs() << "error: invalid --pipeline-options '" << pipelineOptions
                 << "'\n";
    return failure();
  }
  if (std::optional<std::string> error =
          optim::checkCPUPipelineOptions(*options)) {
    llvm::errs() << "error: --pipeline-options: " << *error << "\n";
    return failure();
  }
  PassManager pm(&context);
  optim::buildOptimCPUPipeline(pm, *options);
  if (failed(pm.run(*module)))
    return failure();

  // Validate the target before LLVM sees it: no report_fatal_error paths.
  llvm::Triple triple(llvm::sys::getProcessTriple());
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(triple, errorMessage);
  if (!target) {
    llvm::errs() << "error: " << errorMessage << "\n";
    return failure();
  }
  std::string cpu =
      targetCPU.empty() ? llvm::sys::getHostCPUName().str() : targetCPU;
  std::string features;
  if (targetCPU.empty()) {
    llvm::SubtargetFeatures featureSet;
    for (auto &feature : llvm::sys::getHostCPUFeatures())
      featureSet.AddFeature(feature.first(), feature.second);
    features = featureSet.getString();
  } else {
    // An unknown CPU name would only warn inside LLVM; reject it here.
    std::unique_ptr<llvm::MCSubtargetInfo> info(
        target->createMCSubtargetInfo(triple, targetCPU, ""));
    if (!info || !info->isCPUStringValid(targetCPU)) {
      llvm::errs() << "error: unknown target CPU '" << targetCPU << "'\n";
      return failure();
    }
  }
  std::unique_ptr<llvm::TargetMachine> machine(target->createTargetMachine(
      triple, cpu, features, llvm::TargetOptions(),
      llvm::Reloc::PIC_, std::nullopt, llvm::CodeGenOptLevel::Aggressive));
  if (!machine) {
    llvm::errs() << "error: cannot create a target machine for '"
                 << triple.str()
                 << "' / '" << cpu << "'\n";
    return failure();
  }

  llvm::LLVMContext llvmContext;
  auto llvmModule = translateModuleToLLVMIR(*module, llvmContext, name);
  if (!llvmModule) {
    llvm::errs() << "error: translation to LLVM IR failed\n";
    return failure();
  }
  // Export only the two entry points, under the names the header declares;
  // every other function is internal, so nothing clashes with the header's
  // inline wrappers or with another optimizer's object.
  std::string stepName = "_mlir_ciface_" + name + "_step";
  std::string lrName = "_mlir_ciface_" + name + "_lr";
  for (llvm::Function &function : *llvmModule) {
    if (function.isDeclaration())
      continue;
    if (function.getName() == stepName)
      function.setName(name + "_step_memref");
    else if (function.getName() == lrName)
      function.setName(name + "_lr_memref");
    else
      function.setLinkage(llvm::GlobalValue::InternalLinkage);
  }
  for (llvm::GlobalVariable &global : llvmModule->globals())
    if (!global.isDeclaration() && !global.getName().starts_with("llvm."))
      global.setLinkage(llvm::GlobalValue::InternalLinkage);
  llvmModule->setDataLayout(machine->createDataLayout());
  llvmModule->setTargetTriple(triple);
  auto transformer = makeOptimizingTransformer(3, 0, machine.get());
  if (llvm::Error error = transformer(llvmModule.get())) {
    llvm::errs() << "error: " << llvm::toString(std::move(error)) << "\n";
    return failure();
  }

  std::error_code ec;
  llvm::ToolOutputFile object(outputFilename, ec, llvm::sys::fs::OF_None);
  if (ec) {
    llvm::errs() << "error: " << ec.message() << "\n";
    return failure();
  }
  llvm::legacy::PassManager codegen;
  if (machine->addPassesToEmitFile(codegen, object.os(), nullptr,
                                   llvm::CodeGenFileType::ObjectFile)) {
    llvm::errs() << "error: the target cannot emit object files\n";
    return failure();
  }
  codegen.run(*llvmModule);
  if (failed(keepOutput(object)))
    return failure();

  return writeHeaderFile(
      [&](llvm::raw_ostream &os) { writeHeader(os, name, abi); });
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv,
                              "optim-mlir ahead-of-time compiler: object file "
                              "(or GPU kernels) plus C header\n");
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  DialectRegistry registry;
  optim::registerOptimDialects(registry);
  MLIRContext context(registry);
  return failed(run(context)) ? 1 : 0;
}
