//===- BoundStep.cpp - steps on buffers bound once ------------------------===//

#include "optim/Runtime/BoundStep.h"

#include <cstdlib>
#include <cstring>
#include <new>

using namespace optim::runtime;
using llvm::Error;
using llvm::Expected;

static Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

//===----------------------------------------------------------------------===//
// StateArena
//===----------------------------------------------------------------------===//

Expected<std::shared_ptr<StateArena>>
StateArena::create(llvm::ArrayRef<size_t> sizes) {
  std::shared_ptr<StateArena> arena(new StateArena());
  size_t end = 0;
  for (size_t bytes : sizes) {
    arena->offsets.push_back(end);
    size_t padded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    if (padded < bytes || end + padded < end)
      return makeError("state buffers too large");
    end += padded;
  }
  arena->size = end ? end : kAlignment;
  // calloc, not aligned_alloc + memset: a large block comes from fresh
  // zero pages, so nothing is written (or faulted in) until the first step
  // touches it, in parallel.
  if (arena->size + kAlignment < arena->size)
    return makeError("state buffers too large");
  arena->allocation = std::calloc(arena->size + kAlignment, 1);
  if (!arena->allocation)
    return makeError("cannot allocate " + llvm::Twine(arena->size) +
                     " bytes of state buffers");
  auto address = reinterpret_cast<uintptr_t>(arena->allocation);
  arena->data = reinterpret_cast<void *>((address + kAlignment - 1) /
                                         kAlignment * kAlignment);
  return arena;
}

StateArena::~StateArena() { std::free(allocation); }

//===----------------------------------------------------------------------===//
// BoundStep
//===----------------------------------------------------------------------===//

BoundStep::BoundStep(Optimizer &optimizer)
    : optimizer(optimizer), numStates(optimizer.getStateNames().size()),
      params(optimizer.getParams().size(), nullptr),
      grads(optimizer.getParams().size(), nullptr),
      states(optimizer.getParams().size() * numStates, nullptr) {}

Error BoundStep::allocateStates() {
  llvm::ArrayRef<ParamInfo> infos = optimizer.getParams();
  std::vector<size_t> sizes;
  sizes.reserve(states.size());
  for (const ParamInfo &info : infos)
    for (size_t s = 0; s < numStates; ++s)
      sizes.push_back(size_t(info.stateNumElements[s]) *
                      getElementSize(info.stateDTypes[s]));
  auto created = StateArena::create(sizes);
  if (!created)
    return created.takeError();
  std::vector<void *> buffers(states.size());
  for (size_t i = 0; i < buffers.size(); ++i)
    buffers[i] = (*created)->getBuffer(i);
  // Master weights start from the bound parameters.
  if (Error error = optimizer.hasMasterWeights()
                        ? optimizer.initStates(params, buffers)
                        : optimizer.initStates(buffers))
    return error;
  arena = std::move(*created);
  states = std::move(buffers);
  lastGlobalStep = -1;
  return Error::success();
}

Error BoundStep::step() {
  if (Error error = optimizer.step(params, grads, states)) {
    lastGlobalStep = -1;
    return error;
  }
  lastGlobalStep = optimizer.getGlobalStep();
  return Error::success();
}

Error BoundStep::stepCompiledOnly() {
  if (lastGlobalStep < 0 || optimizer.getGlobalStep() != lastGlobalStep)
    return makeError("stepCompiledOnly() must follow a successful step() of "
                     "the same BoundStep");
  if (Error error = optimizer.runCompiledStep())
    return error;
  lastGlobalStep = optimizer.getGlobalStep();
  return Error::success();
}
