//===- JIT.h - JIT-compiled step modules ------------------------*- C++ -*-===//
//
// A lowered step module becomes host code in one of two ways: compiled by
// MLIR's ExecutionEngine, or loaded from object code (the disk cache) into
// an ORC LLJIT. Either way the runtime calls the same packed entry points.
//
//===----------------------------------------------------------------------===//

#ifndef OPTIM_LIB_RUNTIME_JIT_H
#define OPTIM_LIB_RUNTIME_JIT_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"

#include <memory>
#include <string>

namespace mlir {
class ExecutionEngine;
} // namespace mlir
namespace llvm::orc {
class LLJIT;
} // namespace llvm::orc

namespace optim::runtime::detail {

/// The host CPU the JIT targets.
struct HostTarget {
  std::string cpu;
  /// Enabled features, sorted, comma-separated ("+avx2,+fma,...").
  std::string features;
  /// Bytes of the widest vector register: 64 with AVX-512F, else 32.
  int64_t vectorBytes = 32;
};
const HostTarget &getHostTarget();

/// Host code of one step module. Exactly one of `engine` and `jit` is set;
/// it owns the code the two entry points point into.
struct JITModule {
  std::unique_ptr<mlir::ExecutionEngine> engine;
  std::unique_ptr<llvm::orc::LLJIT> jit;
  void (*step)(void **) = nullptr;
  void (*learningRates)(void **) = nullptr;
  /// The object code, when it was requested from compileStepModule.
  std::string object;

  JITModule();
  ~JITModule();
  JITModule(JITModule &&);
  JITModule &operator=(JITModule &&);
};

/// Compiles `module` (already lowered to the LLVM dialect) for the host,
/// resolving the packed entry points of optimizer `symbol`. With
/// `keepObject`, also returns its object code.
llvm::Expected<JITModule> compileStepModule(mlir::ModuleOp module,
                                            llvm::StringRef symbol,
                                            bool keepObject);

/// Loads object code produced by compileStepModule for optimizer `symbol`.
llvm::Expected<JITModule> loadStepObject(const llvm::MemoryBuffer &object,
                                         llvm::StringRef symbol);

} // namespace optim::runtime::detail

#endif // OPTIM_LIB_RUNTIME_JIT_H
