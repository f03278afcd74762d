"""Builds the optim_mlir wheel with CMake; configuration is in pyproject.toml.

The build runs CMake on this source tree, or reuses a configured build:

  OPTIM_MLIR_BUILD_DIR  a CMake build directory; if it is configured
                        already (CMakeCache.txt) only the Python extension
                        target is brought up to date there, else it is
                        configured there first. Default: build/ in the
                        source tree.
  OPTIM_MLIR_CMAKE_ARGS extra arguments for a fresh configure (split like a
                        shell command line), e.g. "-DMLIR_DIR=...".

The package (the `OptimPython` install component: extension module and
pure-Python files) and the runtime library (`OptimRuntime`) are installed
with `cmake --install` into a staging folder, which gives them their
install RPATHs, and copied into the wheel side by side: the extension finds
libOptimRuntime through its `$ORIGIN` RPATH, the runtime finds libMLIR and
libLLVM where the build found them (the wheel is for this machine's LLVM).
"""
import glob
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

ROOT = os.path.dirname(os.path.abspath(__file__))


def _build_dir():
    return os.path.abspath(os.environ.get("OPTIM_MLIR_BUILD_DIR")
                           or os.path.join(ROOT, "build"))


def _run(cmd):
    print("+ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    subprocess.run(cmd, check=True)


def _cache_value(build, name):
    with open(os.path.join(build, "CMakeCache.txt")) as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split("=", 1)[1].strip()
    return None


class CMakeBuildPy(build_py):
    """Copies the pure-Python modules, then adds the compiled parts."""

    def run(self):
        super().run()
        build = _build_dir()
        cmake = shutil.which("cmake") or "cmake"
        if not os.path.exists(os.path.join(build, "CMakeCache.txt")):
            cmd = [cmake, "-S", ROOT, "-B", build, "-DCMAKE_BUILD_TYPE=Release",
                   "-DPython3_EXECUTABLE=" + sys.executable]
            if shutil.which("ninja"):
                cmd += ["-G", "Ninja"]
            # As scripts/setup.sh configures: Debian's LLVM 22 and its clang.
            if os.path.isdir("/usr/lib/llvm-22/lib/cmake/mlir"):
                cmd += ["-DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir"]
            if (not os.environ.get("CC") and not os.environ.get("CXX")
                    and shutil.which("clang-22") and shutil.which("clang++-22")):
                cmd += ["-DCMAKE_C_COMPILER=clang-22",
                        "-DCMAKE_CXX_COMPILER=clang++-22"]
            if os.path.exists("/usr/lib/llvm-22/bin/lit"):
                cmd += ["-DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit"]
            cmd += shlex.split(os.environ.get("OPTIM_MLIR_CMAKE_ARGS", ""))
            _run(cmd)
        _run([cmake, "--build", build, "--target", "_optim"])

        stage = os.path.join(self.build_temp_dir(), "stage")
        shutil.rmtree(stage, ignore_errors=True)
        for component in ("OptimPython", "OptimRuntime"):
            _run([cmake, "--install", build, "--prefix", stage,
                  "--component", component])
        pydir = _cache_value(build, "OPTIM_PYTHON_INSTALL_DIR")
        staged = os.path.join(stage, pydir, "optim_mlir")
        ext_suffix = sysconfig.get_config_var("EXT_SUFFIX")
        extensions = glob.glob(os.path.join(staged, "_optim*.so"))
        if not any(e.endswith(ext_suffix) for e in extensions):
            raise RuntimeError(
                f"the build in {build} made {extensions}, not an extension "
                f"for this Python ({ext_suffix}); configure it with "
                f"-DPython3_EXECUTABLE={sys.executable}, or point "
                f"OPTIM_MLIR_BUILD_DIR at a new folder")
        target = os.path.join(self.build_lib, "optim_mlir")
        os.makedirs(target, exist_ok=True)
        for path in extensions:
            shutil.copy2(path, target)
        # The runtime under the versioned names the extension may ask for
        # (its soname), each a real file: wheels hold no symbolic links.
        runtimes = glob.glob(os.path.join(stage, "lib", "libOptimRuntime.so.*"))
        if not runtimes:
            raise RuntimeError(f"no libOptimRuntime.so.* installed in {stage}")
        for path in runtimes:
            shutil.copy(os.path.realpath(path),
                        os.path.join(target, os.path.basename(path)))

    def build_temp_dir(self):
        return self.get_finalized_command("build").build_temp


class BinaryDistribution(Distribution):
    """The wheel holds compiled code: tag it for this platform and Python."""

    def has_ext_modules(self):
        return True


# setuptools' own build folders go inside the CMake build directory, not
# next to the sources (build/lib there is CMake's library folder).
_setuptools_dir = os.path.join(_build_dir(), "setuptools")
os.makedirs(_setuptools_dir, exist_ok=True)

setup(
    packages=["optim_mlir"],
    package_dir={"": "python"},
    cmdclass={"build_py": CMakeBuildPy},
    distclass=BinaryDistribution,
    options={"build": {"build_base": _setuptools_dir},
             "egg_info": {"egg_base": _setuptools_dir}},
    zip_safe=False,
)
