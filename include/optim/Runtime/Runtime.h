//===- Runtime.h - C++ API of the optim-mlir runtime ------------*- C++ -*-===//
//
// Compile an optimizer once, then call step() many times on the caller's
// buffers. Errors are llvm::Error / llvm::Expected values; nothing aborts.
//
//===----------------------------------------------------------------------===//

#ifndef OPTIM_RUNTIME_RUNTIME_H
#define OPTIM_RUNTIME_RUNTIME_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace optim::runtime {

enum class DType { F32 = 0, F64 = 1, F16 = 2, BF16 = 3 };

/// Size in bytes of one element.
unsigned getElementSize(DType dtype);

struct ParamInfo {
  std::string name;
  std::vector<int64_t> shape;
  int64_t numElements = 0;
  DType dtype = DType::F32;
  unsigned group = 0;
  /// The gradient arrives as rows (see SparseGrad); only `lazy_adam`.
  bool sparse = false;
};

/// The gradient of a sparse parameter of shape (R, d1, ...): `count` rows,
/// row k (`rows + k * d1 * ...` elements of the parameter's dtype,
/// contiguous, row-major) being the gradient of parameter row
/// `indices[k]`. Indices must lie in [0, R); duplicates are allowed when
/// the optimizer merges them (`unique`, the default), and are then summed.
/// `count` may be 0 (then `indices` and `rows` may be null). The runtime
/// reads both buffers during step() only and keeps no pointer to them.
/// Same layout as the C API's OptimSparseGrad.
struct SparseGrad {
  const int32_t *indices = nullptr;
  const void *rows = nullptr;
  int64_t count = 0;
};

struct CompileOptions {
  /// Options of the `optim-lower-to-cpu` pipeline, e.g. "num-threads=2".
  std::string pipelineOptions;
};

class Optimizer {
public:
  /// Parses optim-dialect source holding one `optim.optimizer` and
  /// compiles it for the host CPU.
  static llvm::Expected<std::unique_ptr<Optimizer>>
  compile(llvm::StringRef source, const CompileOptions &options = {});
  ~Optimizer();

  llvm::ArrayRef<ParamInfo> getParams() const;
  llvm::ArrayRef<std::string> getStateNames() const;
  unsigned getNumGroups() const;
  /// Initial value of state `state` of parameter `param`.
  double getStateInitValue(unsigned param, unsigned state) const;
  /// Fills states (param-major, see optim-c.h) with their initial values.
  llvm::Error initStates(llvm::ArrayRef<void *> states) const;

  llvm::Error setHyperParam(unsigned group, llvm::StringRef name,
                            double value);
  llvm::Expected<double> getHyperParam(unsigned group,
                                       llvm::StringRef name) const;

  int64_t getGlobalStep() const;
  void setGlobalStep(int64_t step);
  /// The learning rate of each group at the current global step.
  llvm::Expected<std::vector<float>> getLearningRates() const;

  /// One step in place on the caller's buffers; increments the global step.
  /// `grads[i]` points to parameter i's gradient (the parameter's shape)
  /// if it is dense, and to a SparseGrad if it is sparse. Everything,
  /// including the sparse indices' range, is validated before any buffer
  /// changes: on error, nothing changed and the global step stays.
  llvm::Error step(llvm::ArrayRef<void *> params, llvm::ArrayRef<void *> grads,
                   llvm::ArrayRef<void *> states);

  class Impl;

private:
  explicit Optimizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl;
};

} // namespace optim::runtime

#endif // OPTIM_RUNTIME_RUNTIME_H
