//===- AsanDefaultOptions.cpp - ASan defaults of the instrumented tools ---===//
//
// Linked into optim-opt, optim-compile, optim-run and optim-fuzz in the
// sanitizer builds only (cmake/Sanitizers.cmake, tools/CMakeLists.txt).
//
// Our code is instrumented, libMLIR and libLLVM are not, and both allocate
// from the same llvm::BumpPtrAllocator (the storage uniquer's): its inline
// functions poison a new slab and unpoison each allocation when they are
// compiled into our code, and do neither in the libraries. A slab that our
// code starts is then poisoned for the attributes the library allocates in
// it, and our next read of one of them is reported as a use-after-poison
// that is not one. `allow_user_poisoning=0` turns the allocator's manual
// annotations off; heap redzones, use-after-free, leaks and the container
// annotations stay checked. ASAN_OPTIONS still overrides it.
//
//===----------------------------------------------------------------------===//

extern "C" const char *__asan_default_options();
extern "C" const char *__asan_default_options() {
  return "allow_user_poisoning=0";
}
