"""Threads and caches of the runtime (docs/Threads-and-caches.md).

Runs through the C API (ctypes over libOptimRuntime.so): the thread count,
the code's origin and the cache counters are C API functions. Tests that
count threads or read the disk cache run in a fresh process each, so that
nothing earlier in the test session (libomp's workers, the in-process
cache) decides the result.
"""

import ctypes
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from optim_mlir import ir

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("OPTIM_BUILD_DIR",
                       os.path.join(os.path.dirname(os.path.dirname(HERE)),
                                    "build"))
ADAM = dict(beta1=0.9, beta2=0.999, eps=1e-8)
COMPILED, MEMORY_CACHE, DISK_CACHE = 0, 1, 2


class CacheStats(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int64) for name in
                ("compilations", "memoryHits", "diskHits", "diskRejects",
                 "diskWrites")]


class Runtime:
    """The few C API functions these tests call."""

    def __init__(self):
        lib = ctypes.CDLL(os.path.join(BUILD, "lib", "libOptimRuntime.so"))
        P, I64 = ctypes.c_void_p, ctypes.c_int64
        err = ctypes.POINTER(ctypes.c_char_p)
        for name, res, args in [
                ("optimCompile", P, [ctypes.c_char_p, ctypes.c_size_t,
                                     ctypes.c_char_p, err]),
                ("optimDestroy", None, [P]),
                ("optimNumParams", I64, [P]),
                ("optimNumStates", I64, [P]),
                ("optimParamNumElements", I64, [P, I64]),
                ("optimInitStates", ctypes.c_int, [P, P, err]),
                ("optimStep", ctypes.c_int, [P, P, P, P, err]),
                ("optimSetNumThreads", ctypes.c_int, [P, ctypes.c_int, err]),
                ("optimNumThreads", ctypes.c_int, [P]),
                ("optimCodeOrigin", ctypes.c_int, [P]),
                ("optimGetCacheStats", None, [ctypes.POINTER(CacheStats)])]:
            f = getattr(lib, name)
            f.restype, f.argtypes = res, args
        self.lib = lib

    def compile(self, source, options="", buffers_of=None):
        """An Optimizer with buffers of its own, or `buffers_of`'s."""
        data = source.encode()
        error = ctypes.c_char_p()
        handle = self.lib.optimCompile(data, len(data), options.encode(),
                                       ctypes.byref(error))
        assert handle, error.value
        return Optimizer(self.lib, handle, buffers_of)

    def stats(self):
        stats = CacheStats()
        self.lib.optimGetCacheStats(ctypes.byref(stats))
        return {name: getattr(stats, name) for name, _ in CacheStats._fields_}


class Optimizer:
    def __init__(self, lib, handle, buffers_of=None):
        self.lib, self.handle = lib, handle
        if buffers_of is not None:
            self.params, self.grads, self.states, self._ptrs = (
                buffers_of.params, buffers_of.grads, buffers_of.states,
                buffers_of._ptrs)
            return
        n = lib.optimNumParams(handle)
        s = lib.optimNumStates(handle)
        rng = np.random.default_rng(0)
        sizes = [lib.optimParamNumElements(handle, i) for i in range(n)]
        self.params = [rng.standard_normal(k).astype(np.float32) for k in sizes]
        self.grads = [rng.standard_normal(k).astype(np.float32) for k in sizes]
        self.states = [np.zeros(k, np.float32) for k in sizes for _ in range(s)]
        self._ptrs = [self._table(a) for a in (self.params, self.grads,
                                                self.states)]
        assert lib.optimInitStates(handle, self._ptrs[2], None) == 0

    @staticmethod
    def _table(arrays):
        return (ctypes.c_void_p * max(1, len(arrays)))(
            *[a.ctypes.data for a in arrays])

    def step(self):
        error = ctypes.c_char_p()
        assert self.lib.optimStep(self.handle, *self._ptrs,
                                  ctypes.byref(error)) == 0, error.value

    def set_num_threads(self, n):
        error = ctypes.c_char_p()
        rc = self.lib.optimSetNumThreads(self.handle, n, ctypes.byref(error))
        return rc, error.value

    @property
    def num_threads(self):
        return self.lib.optimNumThreads(self.handle)

    @property
    def origin(self):
        return self.lib.optimCodeOrigin(self.handle)


def adam_ir(sizes, symbol="opt"):
    return ir.optimizer_ir("adam", ADAM, params=[
        ("p%d" % i, (n,), "float32") for i, n in enumerate(sizes)],
        symbol=symbol)


def run_child(function, *args, env=None):
    """Runs `function(*args)` of this module in a fresh process and returns
    what it printed as JSON. `env` adds to the environment (None: unset);
    without cache settings there, the child has no disk cache."""
    code = ("import sys, json; sys.path[:0] = %r; import %s as m; "
            "print(json.dumps(m.%s(*%r)))" % (
                [HERE, os.path.join(BUILD, "python")],
                os.path.splitext(os.path.basename(__file__))[0],
                function, list(args)))
    cache_variables = ("OPTIM_MLIR_CACHE_DIR", "OPTIM_MLIR_DISABLE_DISK_CACHE",
                       "XDG_CACHE_HOME")
    environment = {k: v for k, v in os.environ.items()
                   if k not in cache_variables}
    environment.update(env or {"OPTIM_MLIR_DISABLE_DISK_CACHE": "1"})
    result = subprocess.run([sys.executable, "-c", code], env=environment,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def num_process_threads():
    return len(os.listdir("/proc/self/task"))


# -- Threads -----------------------------------------------------------------

# Large enough that a step uses every core (4 Mi elements).
LARGE = [1 << 21, 1 << 21]


def child_cpu_after_step():
    opt = Runtime().compile(adam_ir(LARGE, "large"))
    for _ in range(3):
        opt.step()
    start = time.process_time()
    time.sleep(0.5)
    return time.process_time() - start


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2,
                    reason="one core: no OpenMP workers to spin")
def test_no_worker_spins_after_a_step():
    # libomp's default blocktime keeps workers spinning 200 ms after each
    # region (0.1 to 0.2 CPU-s here); the runtime sets it to 0 for steps.
    cpu = run_child("child_cpu_after_step")
    assert cpu < 0.02, "%.3f CPU-s burnt in the 0.5 s after a step" % cpu


def child_threads_of_steps(sizes, num_threads):
    runtime = Runtime()
    opt = runtime.compile(adam_ir(sizes, "s%d" % len(sizes)))
    if num_threads is not None:
        assert opt.set_num_threads(num_threads)[0] == 0
    before = num_process_threads()
    for _ in range(5):
        opt.step()
    return [before, num_process_threads()]


def test_small_steps_run_on_the_calling_thread():
    # 4 x 16Ki elements: below the serial threshold, no worker is created.
    before, after = run_child("child_threads_of_steps", [1 << 14] * 4, None)
    assert after == before


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2,
                    reason="one core: steps never start workers")
def test_large_steps_start_workers_unless_one_thread():
    before, after = run_child("child_threads_of_steps", LARGE, None)
    assert after > before
    before, after = run_child("child_threads_of_steps", LARGE, 1)
    assert after == before


def test_thread_count_setting():
    runtime = Runtime()
    cores = len(os.sched_getaffinity(0))
    opt = runtime.compile(adam_ir([8, 3]))
    assert opt.num_threads == cores
    assert opt.set_num_threads(1) == (0, None)
    assert opt.num_threads == 1
    # Never more than the cores the process may run on.
    assert opt.set_num_threads(cores + 7)[0] == 0
    assert opt.num_threads == cores
    assert opt.set_num_threads(0)[0] == 0
    assert opt.num_threads == cores
    rc, error = opt.set_num_threads(-1)
    assert rc != 0 and b"must be in [0, 1024]" in error
    assert opt.num_threads == cores
    # Far past any machine's cores (the OpenMP runtime would fail to start
    # the threads): refused, the setting unchanged.
    rc, error = opt.set_num_threads(100000)
    assert rc != 0 and b"got 100000" in error
    assert opt.num_threads == cores
    # The pipeline's num-threads is a default, not compiled in: the same
    # code serves both, and the setting overrides it.
    two = runtime.compile(adam_ir([8, 3]), "num-threads=1")
    assert two.origin == MEMORY_CACHE
    assert two.num_threads == 1
    assert two.set_num_threads(cores)[0] == 0
    assert two.num_threads == cores


# -- In-process cache --------------------------------------------------------

def test_memory_cache_key_is_the_full_text():
    runtime = Runtime()
    source = adam_ir([5, 7], "keyed")
    first = runtime.compile(source, "chunk-size=4096")
    assert first.origin in (COMPILED, DISK_CACHE)
    assert runtime.compile(source, "chunk-size=4096").origin == MEMORY_CACHE
    # Spelling the default differently is the same canonical options.
    assert runtime.compile(source, "chunk-size=4096 unroll=2").origin == \
        MEMORY_CACHE
    # Any other text or option is another module.
    assert runtime.compile(source, "chunk-size=2048").origin != MEMORY_CACHE
    assert runtime.compile(source + " ", "chunk-size=4096").origin != \
        MEMORY_CACHE


def test_vector_width_follows_the_host():
    with open("/proc/cpuinfo") as f:
        avx512 = any(line.startswith("flags") and " avx512f" in line
                     for line in f)
    runtime = Runtime()
    source = adam_ir([33], "host")
    runtime.compile(source)
    host = runtime.compile(source, "vector-bytes=%d" % (64 if avx512 else 32))
    assert host.origin == MEMORY_CACHE
    other = runtime.compile(source, "vector-bytes=%d" % (32 if avx512 else 64))
    assert other.origin != MEMORY_CACHE


def test_memory_cache_hit_is_fast():
    # A second optimizer of the same structure: its first step within 20 ms
    # (about 1.5 ms measured for 1000 parameters).
    runtime = Runtime()
    rng = np.random.default_rng(1)
    source = adam_ir([int(n) for n in rng.integers(1, 4096, 1000)], "big")
    first = runtime.compile(source)
    first.step()
    times = []
    for _ in range(5):
        start = time.perf_counter()
        opt = runtime.compile(source, buffers_of=first)
        opt.step()
        times.append(time.perf_counter() - start)
        assert opt.origin == MEMORY_CACHE
    assert min(times) < 0.020, times


# -- Disk cache --------------------------------------------------------------

def child_disk_cache(sizes):
    runtime = Runtime()
    opt = runtime.compile(adam_ir(sizes, "disk"), "chunk-size=1024")
    for _ in range(3):
        opt.step()
    return {"origin": opt.origin, "stats": runtime.stats(),
            "params": [p.tolist() for p in opt.params]}


def test_disk_cache_across_processes(tmp_path):
    env = {"OPTIM_MLIR_CACHE_DIR": str(tmp_path / "cache")}
    sizes = [37, 1000, 5]
    first = run_child("child_disk_cache", sizes, env=env)
    assert first["origin"] == COMPILED
    assert first["stats"]["diskWrites"] == 1
    entries = list((tmp_path / "cache").iterdir())
    assert len(entries) == 1 and entries[0].suffix == ".o"

    second = run_child("child_disk_cache", sizes, env=env)
    assert second["origin"] == DISK_CACHE
    assert second["stats"]["compilations"] == 0
    assert second["stats"]["diskHits"] == 1
    assert second["params"] == first["params"]

    # Truncated (as after a crash mid-copy): ignored, recompiled, rewritten.
    data = entries[0].read_bytes()
    entries[0].write_bytes(data[:len(data) // 2])
    third = run_child("child_disk_cache", sizes, env=env)
    assert third["origin"] == COMPILED
    assert third["stats"]["diskRejects"] == 1
    assert third["stats"]["diskWrites"] == 1
    assert third["params"] == first["params"]
    # One flipped bit in the code is caught as well.
    data = bytearray(entries[0].read_bytes())
    data[len(data) // 2] ^= 0x10
    entries[0].write_bytes(bytes(data))
    fourth = run_child("child_disk_cache", sizes, env=env)
    assert fourth["origin"] == COMPILED
    assert fourth["stats"]["diskRejects"] == 1
    assert run_child("child_disk_cache", sizes, env=env)["origin"] == DISK_CACHE
    # No temporary file is left behind.
    assert [p.name for p in (tmp_path / "cache").iterdir()] == \
        [entries[0].name]


def test_disk_cache_off_or_unusable(tmp_path):
    off = run_child("child_disk_cache", [9], env={
        "OPTIM_MLIR_CACHE_DIR": str(tmp_path / "cache"),
        "OPTIM_MLIR_DISABLE_DISK_CACHE": "1"})
    assert off["origin"] == COMPILED and off["stats"]["diskWrites"] == 0
    assert not (tmp_path / "cache").exists()
    # A directory that cannot be created is no cache, never an error.
    blocker = tmp_path / "file"
    blocker.write_text("")
    unusable = run_child("child_disk_cache", [9], env={
        "OPTIM_MLIR_CACHE_DIR": str(blocker / "cache")})
    assert unusable["origin"] == COMPILED
    assert unusable["stats"]["diskWrites"] == 0
    # $XDG_CACHE_HOME/optim-mlir when OPTIM_MLIR_CACHE_DIR is unset.
    xdg = run_child("child_disk_cache", [9],
                    env={"XDG_CACHE_HOME": str(tmp_path / "xdg")})
    assert xdg["stats"]["diskWrites"] == 1
    assert len(list((tmp_path / "xdg" / "optim-mlir").iterdir())) == 1
