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
config.substitutions.append(("%clang", os.path.join(config.llvm_tools_dir, "clang")))
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.optim_tools_dir, append_path=True)
# Compiled code cached on disk stays in the build tree.
config.environment["OPTIM_MLIR_CACHE_DIR"] = os.path.join(
    config.optim_obj_root, "test-cache")
config.substitutions.append(("%python", config.python_executable))
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
