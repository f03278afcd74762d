# Sanitizer and fuzzer builds of optim-mlir's own code (the tools, the
# libraries, the runtime, the Python extension). The Debian MLIR/LLVM
# libraries stay uninstrumented; so does the code the runtime compiles at
# run time (the JIT's).
#
#   OPTIM_SANITIZE=ON        AddressSanitizer + UndefinedBehaviorSanitizer
#   OPTIM_ENABLE_FUZZER=ON   the same, plus libFuzzer's coverage
#                            instrumentation and the optim-fuzz target
#
# Included after optim-tblgen (a build-time generator, left uninstrumented).

if(NOT OPTIM_SANITIZE AND NOT OPTIM_ENABLE_FUZZER)
  return()
endif()
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang" OR
   NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "OPTIM_SANITIZE and OPTIM_ENABLE_FUZZER need clang "
                      "(e.g. -DCMAKE_CXX_COMPILER=clang++-22)")
endif()

# vptr checks need RTTI on both sides of a call; libMLIR/libLLVM are built
# without it, so they would only report false positives.
set(OPTIM_SANITIZER_FLAGS
  -fsanitize=address,undefined
  -fno-sanitize=vptr
  -fno-sanitize-recover=undefined
  -fno-omit-frame-pointer)
add_compile_options(${OPTIM_SANITIZER_FLAGS}
  # Line tables for readable reports; -O1 compiles faster than -O3 and is
  # what the sanitizers are usually run at.
  -gline-tables-only -O1)
if(OPTIM_ENABLE_FUZZER)
  # Coverage feedback for libFuzzer from every library of ours; only
  # optim-fuzz links libFuzzer itself (-fsanitize=fuzzer).
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

# Executables link the static sanitizer runtime (which exports its symbols
# to the shared libraries they load). Shared libraries and the Python module
# link no runtime: their sanitizer symbols stay undefined until load time,
# so -Wl,-z,defs must go, and a host process that is not ours (python3)
# has to preload the shared runtime:
#   LD_PRELOAD=$(clang-22 -print-file-name=libclang_rt.asan-x86_64.so)
add_link_options(-fsanitize=address,undefined)
string(REPLACE "-Wl,-z,defs" "" CMAKE_SHARED_LINKER_FLAGS
       "${CMAKE_SHARED_LINKER_FLAGS}")
string(REPLACE "-Wl,-z,defs" "" CMAKE_MODULE_LINKER_FLAGS
       "${CMAKE_MODULE_LINKER_FLAGS}")

if(OPTIM_ENABLE_FUZZER)
  message(STATUS "optim-mlir: ASan + UBSan build with libFuzzer (optim-fuzz)")
else()
  message(STATUS "optim-mlir: ASan + UBSan build")
endif()
