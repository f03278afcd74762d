//===- MixedPrecisionLayout.h - buffers of every dtype ----------*- C++ -*-===//
//
// What a runtime needs to run a step whose buffers have several element
// types (docs/Mixed-precision.md): where each buffer of each parameter
// lives in the step's per-dtype buffer tables, and the host conversions
// that fill states of any dtype and start the float32 masters from the
// parameters.
//
//===----------------------------------------------------------------------===//

#ifndef LIB_RUNTIME_MIXEDPRECISIONLAYOUT_H
#define LIB_RUNTIME_MIXEDPRECISIONLAYOUT_H

#include "optim/Dialect/Optim/Transforms/StepABI.h"
#include "optim/Runtime/Runtime.h"

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace optim::runtime::detail {

/// The buffer tables of a step (StepABI.h): one per element type in use,
/// every buffer in the table of its own element type.
struct BufferTableLayout {
  /// Entries of each table, in StepABI::getTableElementTypes() order.
  std::vector<size_t> tableSizes;
  /// Per parameter, per buffer (0: the parameter, 1: its gradient, 2 + s:
  /// state s, the master last), its (table, entry); table -1 for a buffer
  /// the step does not read (the 0-element master of a parameter without
  /// one).
  std::vector<std::vector<std::pair<int, size_t>>> entries;
  /// Per table, per entry, the (parameter, buffer) it holds: the inverse of
  /// `entries`.
  std::vector<std::vector<std::pair<unsigned, unsigned>>> contents;

  /// The layout of a step with buffer tables (no sparse parameter).
  static BufferTableLayout get(const mlir::optim::StepABI &abi);

  /// Elements of buffer `buffer` (numbered as in `entries`) of `info`.
  static int64_t getNumElements(const ParamInfo &info, unsigned buffer) {
    return buffer < 2 ? info.numElements : info.stateNumElements[buffer - 2];
  }
  /// Element type of buffer `buffer` of `info`.
  static DType getDType(const ParamInfo &info, unsigned buffer) {
    return buffer < 2 ? info.dtype : info.stateDTypes[buffer - 2];
  }
};

/// Writes `value`, rounded to nearest even, to `count` elements of `dtype`
/// at `data`.
void fillBuffer(void *data, int64_t count, DType dtype, double value);
/// The bits of `value` in a 16-bit `dtype` (F16 or BF16), rounded to
/// nearest even.
uint16_t toHalfBits(double value, DType dtype);
/// Element `i` of a buffer of `dtype`, as a double (exact).
double readElement(const void *data, int64_t i, DType dtype);
/// Converts `count` elements of `dtype` at `source` to float32 at
/// `destination`, rounded to nearest even (exact from f16, bf16 and f32):
/// a master's initial value.
void convertToFloat32(const void *source, DType dtype, int64_t count,
                      float *destination);

} // namespace optim::runtime::detail

#endif // LIB_RUNTIME_MIXEDPRECISIONLAYOUT_H
