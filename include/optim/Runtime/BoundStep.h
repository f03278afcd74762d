//===- BoundStep.h - steps on buffers bound once ----------------*- C++ -*-===//
//
// Host cost per step independent of the tensor count: a BoundStep keeps the
// step's pointer table (parameters, gradients, states) between steps, so a
// caller only rewrites the pointers that moved, and state buffers can live
// in memory the runtime owns (a StateArena: one 64-byte-aligned block).
//
//===----------------------------------------------------------------------===//

#ifndef OPTIM_RUNTIME_BOUNDSTEP_H
#define OPTIM_RUNTIME_BOUNDSTEP_H

#include "optim/Runtime/Runtime.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/Error.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace optim::runtime {

/// State buffers in memory the runtime owns: one zero-filled allocation,
/// every buffer starting on a kAlignment-byte boundary (full vectors and
/// cache lines for the compiled loops).
class StateArena {
public:
  static constexpr size_t kAlignment = 64;

  /// Lays out one buffer of `sizes[i]` bytes per entry.
  static llvm::Expected<std::shared_ptr<StateArena>>
  create(llvm::ArrayRef<size_t> sizes);
  ~StateArena();
  StateArena(const StateArena &) = delete;
  StateArena &operator=(const StateArena &) = delete;

  /// The whole block (`getSize()` bytes, at least one byte).
  void *getData() const { return data; }
  size_t getSize() const { return size; }
  size_t getNumBuffers() const { return offsets.size(); }
  /// Byte offset of buffer `i` in the block (a multiple of kAlignment).
  size_t getOffset(size_t i) const { return offsets[i]; }
  void *getBuffer(size_t i) const {
    return static_cast<char *>(data) + offsets[i];
  }

private:
  StateArena() = default;
  /// What calloc returned (freed), and `data`, its first aligned byte.
  void *allocation = nullptr;
  void *data = nullptr;
  size_t size = 0;
  std::vector<size_t> offsets;
};

/// A step whose buffer pointers are kept between calls. The caller sets the
/// pointers once (and again only those that move), then calls step(): the
/// runtime's per-tensor work per step is a few pointer copies and null
/// checks. `optimizer` must outlive the BoundStep.
class BoundStep {
public:
  explicit BoundStep(Optimizer &optimizer);

  Optimizer &getOptimizer() const { return optimizer; }
  size_t getNumParams() const { return params.size(); }
  size_t getNumStates() const { return numStates; }

  /// Allocates every state buffer of every parameter in one StateArena
  /// (buffer `param * getNumStates() + state`), fills them with their
  /// initial values and binds them.
  llvm::Error allocateStates();
  /// The arena of allocateStates() (null before).
  const std::shared_ptr<StateArena> &getStateArena() const { return arena; }

  void setParam(size_t param, void *data) { params[param] = data; }
  void setGrad(size_t param, void *data) { grads[param] = data; }
  void setState(size_t param, size_t state, void *data) {
    states[param * numStates + state] = data;
  }
  void *getParam(size_t param) const { return params[param]; }
  void *getGrad(size_t param) const { return grads[param]; }
  void *getState(size_t param, size_t state) const {
    return states[param * numStates + state];
  }
  /// The pointer tables, for callers that fill them in bulk.
  void **getParamTable() { return params.data(); }
  void **getGradTable() { return grads.data(); }
  void **getStateTable() { return states.data(); }

  /// One step on the bound buffers (Optimizer::step: validated before any
  /// write, the global step incremented).
  llvm::Error step();

  /// Runs only the compiled code again, on the tables the previous step()
  /// of this object filled, and increments the global step: no validation,
  /// no table writes. It measures the compiled call alone (host-cost
  /// benchmarks). Fails unless the last call on the optimizer was this
  /// object's step() or stepCompiledOnly().
  llvm::Error stepCompiledOnly();

private:
  Optimizer &optimizer;
  size_t numStates;
  std::vector<void *> params, grads, states;
  std::shared_ptr<StateArena> arena;
  /// The optimizer's global step after this object's last successful step,
  /// or -1: what stepCompiledOnly() requires.
  int64_t lastGlobalStep = -1;
};

} // namespace optim::runtime

#endif // OPTIM_RUNTIME_BOUNDSTEP_H
