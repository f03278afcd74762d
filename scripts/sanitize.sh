#!/usr/bin/env bash
# The AddressSanitizer + UndefinedBehaviorSanitizer build of optim-mlir in
# ./build-asan (our tools, libraries, runtime and Python extension are
# instrumented; the Debian MLIR/LLVM libraries and JIT-compiled code are
# not), with the optim-fuzz libFuzzer target in the same build. Runs the
# lit suite and a subset of the Python tests on it.
#
#   scripts/sanitize.sh [build] [lit] [pytest]     (default: all three)
#
# OPTIM_ASAN_BUILD_DIR overrides the build directory; OPTIM_ASAN_PYTESTS
# the Python test files (relative to test/python). Any sanitizer report
# fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${OPTIM_ASAN_BUILD_DIR:-build-asan}
steps=("$@")
((${#steps[@]})) || steps=(build lit pytest)

LLVM_BIN=/usr/lib/llvm-22/bin
ASAN_RUNTIME=$(clang-22 -print-file-name=libclang_rt.asan-x86_64.so)
export ASAN_SYMBOLIZER_PATH=$LLVM_BIN/llvm-symbolizer
# Leak checks on for our tools; see the Python step for Python.
# allow_user_poisoning=0 first (a later setting overrides it): see
# tools/AsanDefaultOptions.cpp.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:check_initialization_order=1}
export ASAN_OPTIONS=allow_user_poisoning=0:$ASAN_OPTIONS
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Python tests under the sanitizers (sized for CI): the package's error
# paths, the rule table, and the JIT path through the instrumented compiler
# and runtime (sparse gradients, gradient control). All six of
# test_rule_table, test_nn_errors, test_cpu_numerics, test_sparse,
# test_gradient_control and test_torch_optim (451 tests) take
# about ten minutes on two loaded cores.
DEFAULT_PYTESTS="test_rule_table.py test_nn_errors.py test_sparse.py
  test_gradient_control.py"
PYTESTS=${OPTIM_ASAN_PYTESTS:-$DEFAULT_PYTESTS}

# Tests that do not fit an instrumented build: the packaging tests build
# and install the project again (uninstrumented consumers of instrumented
# libraries); scripts/test.sh runs them on the normal build.
LIT_FILTER_OUT='Install/(pip|find-package)\.test'

for step in "${steps[@]}"; do
  case $step in
  build)
    [[ -f $ASAN_RUNTIME ]] || {
      echo "error: no ASan runtime ($ASAN_RUNTIME): install libclang-rt-22-dev" >&2
      exit 1
    }
    cmake -S . -B "$BUILD" -G Ninja \
      -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
      -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
      -DLLVM_EXTERNAL_LIT=$LLVM_BIN/lit \
      -DPython3_EXECUTABLE=/usr/bin/python3 \
      -DOPTIM_SANITIZE=ON -DOPTIM_ENABLE_FUZZER=ON
    cmake --build "$BUILD"
    ;;
  lit)
    echo "== lit under ASan + UBSan ($BUILD; not run: $LIT_FILTER_OUT)"
    $LLVM_BIN/lit -sv --filter-out "$LIT_FILTER_OUT" "$BUILD/test"
    ;;
  pytest)
    # The extension is loaded by an uninstrumented python3: the shared
    # sanitizer runtime is preloaded. Leak checks are off there (CPython
    # and NumPy keep allocations alive until exit by design).
    echo "== pytest under ASan + UBSan: $(echo $PYTESTS)"
    files=()
    for f in $PYTESTS; do files+=("$PWD/test/python/$f"); done
    (cd "$BUILD" &&
      OPTIM_BUILD_DIR=$PWD PYTHONPATH=$PWD/python \
        LD_PRELOAD=$ASAN_RUNTIME ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0 \
        /usr/bin/python3 -m pytest "${files[@]}" -q -p no:cacheprovider)
    ;;
  *)
    echo "usage: $0 [build] [lit] [pytest]" >&2
    exit 2
    ;;
  esac
done
