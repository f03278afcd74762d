# -*- Python -*-
# Lit configuration of the optim-mlir regression tests.

import os

import lit.formats
from lit.llvm import llvm_config

config.name = "OPTIM"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test", ".c", ".td"]
config.excludes = ["CMakeLists.txt", "README.txt", "lit.cfg.py", "lit.site.cfg.py", "Inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.optim_obj_root, "test")

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%optim_src_root", config.optim_src_root))
config.substitutions.append(("%optim_obj_root", config.optim_obj_root))
config.substitutions.append(("%shlibext", config.llvm_shlib_ext))

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()

tool_dirs = [config.optim_tools_dir, config.llvm_tools_dir]
tools = ["optim-opt", "optim-compile", "optim-run", "optim-tblgen"]
llvm_config.add_tool_substitutions(
    [t for t in tools if os.path.exists(os.path.join(config.optim_tools_dir, t))],
    tool_dirs)
config.substitutions.append(("%llvm_lib_dir", config.llvm_lib_dir))
config.substitutions.append(("%cmake", config.cmake_command))
config.substitutions.append(("%mlir_cmake_dir", config.mlir_cmake_dir))
config.substitutions.append(("%optim_include", os.path.join(config.optim_src_root, "include")))

# A sanitizer build (cmake/Sanitizers.cmake): feature `asan`; programs the
# tests link against our libraries link the sanitizer runtime, and Python
# preloads its shared runtime (leak checks off: CPython's own allocations
# would be reported).
def _cmake_option(name):
    cache = os.path.join(config.optim_obj_root, "CMakeCache.txt")
    if not os.path.exists(cache):
        return False
    with open(cache) as f:
        return any(line.startswith(name + ":") and
                   line.strip().split("=", 1)[1].upper() in ("ON", "1", "TRUE")
                   for line in f)

clang = os.path.join(config.llvm_tools_dir, "clang")
python = config.python_executable
if _cmake_option("OPTIM_SANITIZE") or _cmake_option("OPTIM_ENABLE_FUZZER"):
    import subprocess
    config.available_features.add("asan")
    asan_runtime = subprocess.run(
        [clang, "-print-file-name=libclang_rt.asan-x86_64.so"],
        capture_output=True, text=True).stdout.strip()
    # (Not -fsanitize=function: the test programs' stubs of C libraries, such
    # as the CUDA driver's, are called through the runtime's own pointer types,
    # as the real, uninstrumented libraries are.)
    clang += " -fsanitize=address,undefined -fno-sanitize=function"
    # allow_user_poisoning=0: our code and the uninstrumented MLIR share
    # allocators (tools/AsanDefaultOptions.cpp); the tools have it built in,
    # the test programs and python3 get it here.
    asan_options = ":".join(filter(None, ["allow_user_poisoning=0",
                                          os.environ.get("ASAN_OPTIONS")]))
    config.environment["ASAN_OPTIONS"] = asan_options
    python = "env LD_PRELOAD=%s ASAN_OPTIONS=%s:detect_leaks=0 %s" % (
        asan_runtime, asan_options, python)
config.substitutions.append(("%clang", clang))
# mpirun for the distributed tests: every rank on this machine over shared
# memory, more ranks than cores allowed, and root allowed (containers).
mpirun = ("env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
          "OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none "
          "OMPI_MCA_plm_rsh_agent= OMP_NUM_THREADS=1 ")
if "asan" in config.available_features:
    mpirun += "ASAN_OPTIONS=allow_user_poisoning=0:detect_leaks=0 "
config.substitutions.append(
    ("%mpirun", mpirun + "mpirun --oversubscribe --bind-to none"))
# The libFuzzer target (OPTIM_ENABLE_FUZZER=ON builds only).
optim_fuzz = os.path.join(config.optim_tools_dir, "optim-fuzz")
if os.path.exists(optim_fuzz):
    config.available_features.add("optim-fuzz")
    config.substitutions.append(("%optim_fuzz", optim_fuzz))
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.optim_tools_dir, append_path=True)
# Compiled code cached on disk stays in the build tree.
config.environment["OPTIM_MLIR_CACHE_DIR"] = os.path.join(
    config.optim_obj_root, "test-cache")
# (use_default_substitutions defines %python too; this one replaces it.)
config.substitutions = [(k, v) for k, v in config.substitutions
                        if k != "%python"]
config.substitutions.append(("%python", python))
# The project's own compilers and generator, for the tests that configure
# other CMake projects against an installed optim-mlir (test/Install).
config.substitutions.append(
    ("%consumer_flags",
     '-G "%s" -DCMAKE_MAKE_PROGRAM=%s -DCMAKE_C_COMPILER=%s -DCMAKE_CXX_COMPILER=%s'
     % (config.cmake_generator, config.cmake_make_program, config.c_compiler,
        config.cxx_compiler)))
# The CUDA toolkit's ptxas assembles the PTX of the GPU tests where the
# toolkit is installed (it is on the project's machines and in CI).
ptxas = os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin",
                     "ptxas")
if os.path.exists(ptxas):
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))
