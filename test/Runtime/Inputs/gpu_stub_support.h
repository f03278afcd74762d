// What the GPU test programs (gpu_step_main.cpp, gpu_distributed_main.cpp)
// share: the fake driver's counters and the names of the element types.

#ifndef TEST_RUNTIME_INPUTS_GPU_STUB_SUPPORT_H
#define TEST_RUNTIME_INPUTS_GPU_STUB_SUPPORT_H

#include "optim/Runtime/Runtime.h"

#include <dlfcn.h>

namespace gpu_stub_support {

/// A function of the fake driver (cuda_stub.c) or the fake NCCL
/// (nccl_stub.c), which the runtime opens with RTLD_GLOBAL; null when it
/// is not loaded.
template <typename T> T *stubFunction(const char *name) {
  return reinterpret_cast<T *>(dlsym(RTLD_DEFAULT, name));
}

/// A counter of the fake driver (-1 when it is not loaded).
inline long stubCounter(const char *name) {
  auto *counter = stubFunction<long()>(name);
  return counter ? counter() : -1;
}

inline const char *dtypeName(optim::runtime::DType dtype) {
  switch (dtype) {
  case optim::runtime::DType::F32:
    return "f32";
  case optim::runtime::DType::F64:
    return "f64";
  case optim::runtime::DType::F16:
    return "f16";
  case optim::runtime::DType::BF16:
    return "bf16";
  }
  return "?";
}

} // namespace gpu_stub_support

#endif // TEST_RUNTIME_INPUTS_GPU_STUB_SUPPORT_H
