"""Shared pieces of the step benchmarks: the host header, the hand-written
baseline kernels (bench/kernels.cpp, loaded with ctypes), chunk tables and
interleaved, shuffled timing.

The kernels library is taken from the build tree (``build/bench/
libbench_kernels.so``, made by a plain ``cmake --build build``) when it is
newer than kernels.cpp, otherwise compiled here with clang-22 into a cache
directory (``$OPTIM_BENCH_CACHE``, default ``$TMPDIR/optim-bench-<uid>``).
"""

import ctypes
import hashlib
import os
import platform
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.environ.get("OPTIM_BUILD_DIR", os.path.join(ROOT, "build"))
KERNELS_SRC = os.path.join(HERE, "kernels.cpp")
LIBOMP_DIR = "/usr/lib/llvm-22/lib"
CLANG = os.environ.get("OPTIM_BENCH_CLANG", "clang-22")
# Keep in sync with bench/CMakeLists.txt.
KERNEL_FLAGS = ["-O3", "-march=native", "-fno-math-errno", "-fopenmp=libomp",
                "-fPIC", "-shared", "-L" + LIBOMP_DIR,
                "-Wl,-rpath," + LIBOMP_DIR]
# The compiler's default chunk (elements per parallel work item).
CHUNK = 65536


# ---------------------------------------------------------------- header --

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            lines = f.read().splitlines()
    except OSError:
        return platform.processor() or "unknown", False
    model, flags = "unknown", set()
    for line in lines:
        if line.startswith("model name") and model == "unknown":
            model = line.split(":", 1)[1].strip()
        elif line.startswith("flags") and not flags:
            flags = set(line.split(":", 1)[1].split())
    return model, "avx512f" in flags


def source_revision():
    """The checkout's commit, and whether it has uncommitted changes."""
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short",
                               "HEAD"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not head:
        return "unknown"
    return head + (" with uncommitted changes" if dirty else "")


def print_header(threads_line):
    """CPU model, AVX-512, threads, the exact command line."""
    model, avx512 = cpu_model()
    print("cpu: %s (%d cores visible), avx512f: %s" %
          (model, os.cpu_count() or 0, "yes" if avx512 else "no"))
    print("threads: %s" % threads_line)
    print("KMP_BLOCKTIME=%s OMP_NUM_THREADS=%s" %
          (os.environ.get("KMP_BLOCKTIME", "(unset)"),
           os.environ.get("OMP_NUM_THREADS", "(unset)")))
    print("source: %s" % source_revision())
    print("command: %s" % " ".join(
        shlex.quote(a) for a in [sys.executable] + sys.argv))
    sys.stdout.flush()


# --------------------------------------------------------------- kernels --

def _compile_kernels():
    with open(KERNELS_SRC, "rb") as f:
        digest = hashlib.sha256(f.read() + " ".join(
            [CLANG] + KERNEL_FLAGS).encode()).hexdigest()[:16]
    cache = os.environ.get("OPTIM_BENCH_CACHE", os.path.join(
        tempfile.gettempdir(), "optim-bench-%d" % os.getuid()))
    os.makedirs(cache, exist_ok=True)
    path = os.path.join(cache, "libbench_kernels-%s.so" % digest)
    if not os.path.exists(path):
        tmp = path + ".%d.tmp" % os.getpid()
        subprocess.run([CLANG] + KERNEL_FLAGS + [KERNELS_SRC, "-o", tmp],
                       check=True)
        os.replace(tmp, path)
    return path


def kernels_path():
    built = os.path.join(BUILD, "bench", "libbench_kernels.so")
    if (os.path.exists(built) and
            os.path.getmtime(built) >= os.path.getmtime(KERNELS_SRC)):
        return built
    return _compile_kernels()


_P = ctypes.c_void_p
_I64P = ctypes.POINTER(ctypes.c_int64)
_I32P = ctypes.POINTER(ctypes.c_int32)
_F32P = ctypes.POINTER(ctypes.c_float)
_SIGNATURES = {
    "floor_adamw": [_P, _P, _P, _P, _I64P, _I64P, _I64P, ctypes.c_int64,
                    ctypes.c_float, ctypes.c_int],
    "floor_momentum_gc": [_P, _P, _P, _I64P, _I64P, _I64P, ctypes.c_int64,
                          _I64P, _I32P, ctypes.c_int64, _F32P, _F32P,
                          ctypes.c_float, ctypes.c_int],
    "floor_lamb": [_P, _P, _P, _P, _I64P, _I64P, _I64P, ctypes.c_int64,
                   _I64P, ctypes.c_int64, _F32P, _F32P, ctypes.c_float,
                   ctypes.c_int],
    "adamw_fused": [_P, _P, _P, _P, _I64P, _I64P, _I64P, ctypes.c_int64,
                    ctypes.c_float, ctypes.c_float, ctypes.c_float,
                    ctypes.c_float, ctypes.c_float, ctypes.c_int],
    "bench_omp_blocktime": [],
}


def load_kernels():
    lib = ctypes.CDLL(kernels_path())
    for name, args in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = ctypes.c_int if name == "bench_omp_blocktime" else None
    return lib


def libomp_copies():
    """The distinct libomp files mapped into this process (one expected:
    the compiled steps and the kernels share LLVM's runtime)."""
    seen = set()
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and "libomp" in parts[5]:
                seen.add(os.path.realpath(parts[5]))
    return sorted(seen)


class Tensors:
    """Pointer arrays and a chunk table over lists of equally shaped NumPy
    buffers (the kernels' view of the same arrays the compiled step gets)."""

    def __init__(self, buffers, chunk=CHUNK):
        # buffers: {"p": [arrays], "g": [...], ...}, all lists parallel.
        self.arrays = buffers
        self.ptrs = {}
        for key, arrays in buffers.items():
            for a in arrays:
                assert a.dtype == np.float32 and a.flags.c_contiguous
            self.ptrs[key] = (ctypes.c_void_p * len(arrays))(
                *[a.ctypes.data for a in arrays])
        first_list = next(iter(buffers.values()))
        sizes = [a.size for a in first_list]
        tensor, start, length, first = [], [], [], [0]
        for t, n in enumerate(sizes):
            for s in range(0, max(n, 1), chunk):
                tensor.append(t)
                start.append(s)
                length.append(min(chunk, n - s))
            first.append(len(tensor))
        self.ntensors = len(sizes)
        self.nchunks = len(tensor)
        self.tensor = np.array(tensor, np.int64)
        self.start = np.array(start, np.int64)
        self.length = np.array(length, np.int64)
        self.first = np.array(first, np.int64)
        self.partial = np.zeros(2 * self.nchunks, np.float32)
        self.total = np.zeros(2 * self.ntensors, np.float32)

    def ptr(self, key):
        return ctypes.cast(self.ptrs[key], ctypes.c_void_p)

    @staticmethod
    def i64(a):
        return a.ctypes.data_as(_I64P)

    def table(self):
        return (self.i64(self.tensor), self.i64(self.start),
                self.i64(self.length), self.nchunks)

    def scratch(self):
        return (self.partial.ctypes.data_as(_F32P),
                self.total.ctypes.data_as(_F32P))


# ---------------------------------------------------------------- timing --

def interleaved(impls, rounds, warmup=2, seed=0):
    """Times each callable of `impls` (name -> fn) once a round, in a
    freshly shuffled order each round; returns name -> list of seconds
    (warm-up rounds dropped)."""
    rng = random.Random(seed)
    names = list(impls)
    times = {n: [] for n in names}
    for r in range(warmup + rounds):
        rng.shuffle(names)
        for n in names:
            t0 = time.perf_counter()
            impls[n]()
            dt = time.perf_counter() - t0
            if r >= warmup:
                times[n].append(dt)
    return times


def median(xs):
    return statistics.median(xs)


def ratio(times, a, b):
    """Median over rounds of a's time / b's time in the same round."""
    return statistics.median(x / y for x, y in zip(times[a], times[b]))
