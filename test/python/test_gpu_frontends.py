"""The GPU paths of the Python front ends, without a GPU.

``optim_mlir._optim.GPUOptimizer`` and ``DeviceBuffer``, ``optim_mlir.nn``
with ``target='GPU'`` and the CUDA path of ``optim_mlir.torch`` run here
against no driver and against the fake driver ``test/Runtime/Inputs/
cuda_stub.c``: its "device memory" is host memory (host addresses work as
device addresses, copies really copy) and it records kernel launches without
running them. What reaches the driver (copies, launches, the tables and
counters in its memory) is checked; what the kernels compute is not (see
docs/GPU-Python.md).

The driver is loaded once per process, so every test that needs one (or its
absence) runs in a subprocess with ``OPTIM_CUDA_DRIVER`` set. The
subprocess's stdout (fd 1, where the stub prints) goes to a log file; it
reports its observations as JSON on the original stdout.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import optim_mlir.nn as nn
import optim_mlir.torch as ot

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("OPTIM_BUILD_DIR", os.path.join(ROOT, "build"))
STUB_SOURCE = os.path.join(ROOT, "test", "Runtime", "Inputs", "cuda_stub.c")

# Runs first in every subprocess: fd 1 to the log, and the functions the
# scripts share.
PRELUDE = r'''
import ctypes, json, os, sys
import numpy as np
_log = sys.argv[1]
_out = os.dup(1)
_fd = os.open(_log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.dup2(_fd, 1)
_libc = ctypes.CDLL(None)

def mark(name):
    """A line in the log between what the stub printed before and after."""
    _libc.fflush(None)
    sys.stdout.write("mark: %s\n" % name)
    sys.stdout.flush()

def outcome(fn):
    """[exception type name, message], or ["ok", repr(result)]."""
    try:
        return ["ok", repr(fn())]
    except Exception as e:
        return [type(e).__name__, str(e)]

def aligned(shape, dtype, fill, alignment=64):
    """An array of `shape` starting on an `alignment`-byte boundary."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    raw = np.empty(count * dtype.itemsize + alignment, np.uint8)
    offset = (-raw.ctypes.data) % alignment
    array = raw[offset:offset + count * dtype.itemsize].view(dtype)
    array = array.reshape(shape)
    array[...] = fill
    return array

def stub():
    """The fake driver's own functions (the library this process loaded)."""
    lib = ctypes.CDLL(os.environ["OPTIM_CUDA_DRIVER"])
    lib.optimStubLaunchName.restype = ctypes.c_char_p
    lib.optimStubLaunchName.argtypes = [ctypes.c_long]
    lib.optimStubLaunchParam.restype = ctypes.c_ulonglong
    lib.optimStubLaunchParam.argtypes = [ctypes.c_long, ctypes.c_int]
    lib.optimStubLaunchGridX.restype = ctypes.c_uint
    lib.optimStubLaunchGridX.argtypes = [ctypes.c_long]
    lib.optimStubLaunchBlockX.restype = ctypes.c_uint
    lib.optimStubLaunchBlockX.argtypes = [ctypes.c_long]
    lib.optimStubLaunchNumParams.argtypes = [ctypes.c_long]
    lib.optimStubLaunches.restype = ctypes.c_long
    lib.optimStubHtoDCopies.restype = ctypes.c_long
    lib.optimStubLiveAllocations.restype = ctypes.c_long
    lib.optimStubLiveModules.restype = ctypes.c_long
    return lib

def read(address, ctype, count):
    """`count` values of `ctype` at a (host = fake device) address."""
    return list((ctype * count).from_address(address))

def device_args(gpu, lib, launch):
    """{step-function argument: its device address} of recorded launch
    `launch` (every argument a 1-D memref: 5 kernel parameters, the
    allocated pointer first)."""
    plan = gpu.launches[launch % len(gpu.launches)]
    assert plan["num_params"] == 5 * len(plan["arguments"]), plan
    return {arg: lib.optimStubLaunchParam(launch, 5 * k)
            for k, arg in enumerate(plan["arguments"])}

def table_pointers(gpu, address, table):
    """The buffer addresses held by buffer table `table` at `address` (40-byte
    descriptors: allocated, aligned, offset, size, stride)."""
    words = read(address, ctypes.c_uint64, 5 * gpu.num_table_entries(table))
    return [words[5 * e] for e in range(gpu.num_table_entries(table))]

def finish(result):
    _libc.fflush(None)
    sys.stdout.flush()
    os.write(_out, json.dumps(result).encode())
'''

HTOD = re.compile(r"^stub: cuMemcpyHtoDAsync_v2 (\d+) bytes to (0x[0-9a-f]+)",
                  re.M)
ALLOC = re.compile(r"^stub: cuMemAlloc_v2 (\d+) bytes at (0x[0-9a-f]+)", re.M)
LAUNCH = re.compile(r"^stub: cuLaunchKernel (\S+) grid (\d+)x(\d+)x(\d+) "
                    r"block (\d+)x(\d+)x(\d+)", re.M)


def section(log, start, end=None):
    """The log between ``mark: start`` and ``mark: end`` (or the end)."""
    begin = log.index("mark: %s\n" % start)
    stop = log.index("mark: %s\n" % end, begin) if end else len(log)
    return log[begin:stop]


def copies(text):
    """(bytes, address) of every host-to-device copy in `text`."""
    return [(int(n), int(a, 16)) for n, a in HTOD.findall(text)]


def allocations(text):
    return [(int(n), int(a, 16)) for n, a in ALLOC.findall(text)]


def launches(text):
    return [(m[0], int(m[1]), int(m[4])) for m in LAUNCH.findall(text)]


@pytest.fixture(scope="module")
def stub_driver(tmp_path_factory):
    """The fake CUDA driver, built with the C compiler (as lit's
    cuda-driver.test does)."""
    compiler = shutil.which("cc") or shutil.which("clang-22")
    if compiler is None:
        pytest.fail("no C compiler (cc or clang-22) to build the fake CUDA "
                    "driver test/Runtime/Inputs/cuda_stub.c")
    out = tmp_path_factory.mktemp("stub") / "libcuda_stub.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-O1", STUB_SOURCE, "-o",
                    str(out)], check=True)
    return str(out)


@pytest.fixture
def no_driver(tmp_path):
    """A driver path that does not exist."""
    return str(tmp_path / "no-such-libcuda.so.1")


def run(script, driver, tmp_path):
    """Runs PRELUDE + `script` in /usr/bin/python3 with the driver at
    `driver`; returns (its JSON result, the log of what the stub printed)."""
    log = tmp_path / "stub.log"
    env = dict(os.environ)
    env["OPTIM_CUDA_DRIVER"] = driver
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(BUILD, "python"), HERE])
    proc = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(script), str(log)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    text = log.read_text() if log.exists() else ""
    assert proc.returncode == 0, "stderr:\n%s\nlog tail:\n%s" % (
        proc.stderr, text[-3000:])
    return json.loads(proc.stdout), text


# ---------------------------------------------------------------------------
# No driver
# ---------------------------------------------------------------------------

def test_no_driver_binding(no_driver, tmp_path):
    result, _ = run('''
        from optim_mlir import _optim as o
        available, message = o.cuda_driver_available()
        source = open("examples/adamw.mlir").read()
        gpu = o.GPUOptimizer.compile(source, "sm_90")
        # Never touched (the driver is missing); 1 MiB apart, since
        # overlapping buffers are refused before the driver is needed.
        fake = [(k + 1) << 20 for k in range(32)]
        finish(dict(
            available=available, message=message, chip=gpu.chip,
            launches=len(gpu.launches),
            load=outcome(lambda: gpu.load(0)),
            step=outcome(lambda: gpu.step(fake[:8], fake[8:16],
                                          fake[16:])),
            init=outcome(lambda: gpu.init_states(fake[16:])),
            loaded=gpu.is_loaded, device=gpu.device,
            no_chip=outcome(lambda: o.GPUOptimizer.compile(source)),
            buffer=outcome(lambda: o.DeviceBuffer(64)),
            capability=outcome(lambda: o.cuda_device_capability(0)),
        ))
    ''', no_driver, tmp_path)
    why = "cannot load the CUDA driver (%s)" % no_driver
    assert result["available"] is False
    assert result["message"].startswith(why)
    # Compiling with a chip needs no driver.
    assert result["chip"] == "sm_90" and result["launches"] >= 1
    for key in ("load", "step", "init", "buffer", "capability"):
        assert result[key][0] == "RuntimeError", (key, result[key])
        assert why in result[key][1], (key, result[key])
    assert result["loaded"] is False and result["device"] == -1
    assert result["no_chip"][0] == "RuntimeError"
    assert "no chip given" in result["no_chip"][1]
    assert why in result["no_chip"][1]


def test_no_driver_nn_target_gpu(no_driver, tmp_path):
    result, _ = run('''
        from optim_mlir import nn
        def params():
            return [nn.Parameter(np.ones((4, 4), np.float32), "w"),
                    nn.Parameter(np.ones(3, np.float32), "b")]
        gpu = outcome(lambda: nn.Adam(params(), learning_rate=0.1,
                                      target="GPU"))
        momentum = outcome(lambda: nn.Momentum(params(), 0.1, 0.9,
                                               target="GPU"))
        # The host step is unaffected.
        ps = params()
        opt = nn.Adam(ps, learning_rate=0.1)
        opt([np.ones((4, 4), np.float32), np.ones(3, np.float32)])
        finish(dict(gpu=gpu, momentum=momentum, target=opt.target,
                    stepped=bool(np.all(ps[0].data < 1.0))))
    ''', no_driver, tmp_path)
    for key in ("gpu", "momentum"):
        kind, message = result[key]
        assert kind == "RuntimeError", result[key]
        assert "target='GPU'" in message
        assert "cannot load the CUDA driver (%s)" % no_driver in message
    assert result["target"] == "CPU" and result["stepped"] is True


def test_no_driver_torch_cuda_dispatch(no_driver, tmp_path):
    # A CPU-only torch cannot make CUDA tensors: the device dispatch a step
    # of CUDA parameters calls is called with a CUDA device directly.
    result, _ = run('''
        import torch
        import optim_mlir.torch as ot
        error = outcome(lambda: ot._gpu_runtime(torch.device("cuda", 0)))
        cached = len(ot._GPU_RUNTIMES)
        p = torch.ones(4, requires_grad=True)
        p.grad = torch.ones(4)
        opt = ot.SGD([p], lr=0.5)
        opt.step()
        finish(dict(error=error, cached=cached, cpu=p.detach().tolist()))
    ''', no_driver, tmp_path)
    kind, message = result["error"]
    assert kind == "RuntimeError"
    assert "cuda:0" in message and "CUDA kernels" in message
    assert "cannot load the CUDA driver (%s)" % no_driver in message
    assert result["cached"] == 0
    assert result["cpu"] == [0.5] * 4


# ---------------------------------------------------------------------------
# Checks that need no driver (in this process)
# ---------------------------------------------------------------------------

def test_torch_unsupported_device():
    p = torch.empty(3, device="meta", requires_grad=True)
    with pytest.raises(ValueError, match="device 'meta'.*CPU tensors.*CUDA"):
        ot.Adam([p])


def test_torch_mixed_devices():
    cpu = torch.zeros(3, requires_grad=True)
    meta = torch.empty(3, device="meta", requires_grad=True)
    with pytest.raises(ValueError, match="must be on one device: parameter 0 "
                       "of group 0 is on cpu, parameter 1 of group 0 on meta"):
        ot.SGD([cpu, meta], lr=0.1)
    # A later group on another device is rejected and not kept: the
    # optimizer still steps its CPU parameters.
    opt = ot.SGD([cpu], lr=0.5)
    with pytest.raises(ValueError, match="parameter 0 of group 1 on meta"):
        opt.add_param_group({"params": [meta]})
    assert len(opt.param_groups) == 1
    cpu.grad = torch.ones(3)
    opt.step()
    assert torch.equal(cpu.detach(), torch.full((3,), -0.5))


def test_nn_target_argument():
    def two():
        return [nn.Parameter(np.ones(4, np.float32), "a"),
                nn.Parameter(np.ones(2, np.float32), "b")]
    with pytest.raises(TypeError, match="'target' must be string"):
        nn.SGD(two(), target=1)
    with pytest.raises(ValueError, match="must be one of"):
        nn.Adam(two(), target="TPU")
    with pytest.raises(NotImplementedError, match="'Ascend' is not supported"):
        nn.Lamb(two(), 0.1, target="Ascend")
    opt = nn.AdamWeightDecay(two(), target="CPU")
    assert opt.target == "CPU"
    # MindSpore's rule: no device target in the 'CPU' environment.
    for value in ("GPU", "Ascend"):
        with pytest.raises(ValueError, match="in the 'CPU' environment"):
            opt.target = value
    assert opt.target == "CPU"


# ---------------------------------------------------------------------------
# The fake driver: the binding
# ---------------------------------------------------------------------------

def test_stub_compile_load_init_states(stub_driver, tmp_path):
    result, log = run('''
        from optim_mlir import _optim as o, ir
        gpu = o.GPUOptimizer.compile(open("examples/adamw.mlir").read(),
                                     "sm_90")
        before = (gpu.is_loaded, gpu.device)
        gpu.load(0)
        again = outcome(lambda: gpu.load(0))
        # States filled with NaN, then initialised on the "device".
        states = [aligned(p["shape"], p["dtype"], np.nan)
                  for p in gpu.params for _ in gpu.state_names]
        gpu.init_states([a.ctypes.data for a in states])
        o.cuda_synchronize(0, 0)
        ns = len(gpu.state_names)
        adamw = [bool(np.all(a == gpu.state_init_value(i // ns, i % ns)))
                 for i, a in enumerate(states)]
        # Non-zero initial values, float64 and float32: Rprop's step sizes
        # start at the learning rate (from the table), on a fresh optimizer
        # that init_states loads itself.
        source = ir.optimizer_ir(
            "rprop", {"etaminus": 0.5, "etaplus": 1.2, "min_step": 1e-6,
                      "max_step": 50.0},
            params=[("a", (5,), "float64"), ("b", (3, 4), "float32")],
            learning_rate=0.01)
        rprop = o.GPUOptimizer.compile(source, "sm_90")
        rstates = [aligned(p["shape"], p["dtype"], np.nan)
                   for p in rprop.params for _ in rprop.state_names]
        rprop.init_states([a.ctypes.data for a in rstates])
        o.cuda_synchronize(0, 0)
        finish(dict(
            chip=gpu.chip, params=gpu.params, states=gpu.state_names,
            groups=gpu.num_groups, before=before,
            after=(gpu.is_loaded, gpu.device), again=again, adamw=adamw,
            adamw_init=[gpu.state_init_value(i, s) for i in range(8)
                        for s in range(ns)],
            rprop_names=rprop.state_names, rprop_loaded=rprop.is_loaded,
            rprop_init=[[float(x) for x in a.ravel()] for a in rstates],
            rprop_expected=[rprop.state_init_value(i, s) for i in range(2)
                            for s in range(2)],
            capability=o.cuda_device_capability(0),
            devices=o.cuda_device_count(),
            available=o.cuda_driver_available(),
        ))
    ''', stub_driver, tmp_path)
    assert result["chip"] == "sm_90" and result["groups"] == 2
    assert result["states"] == ["moment1", "moment2"]
    names = [p["name"] for p in result["params"]]
    assert names[:2] == ["encoder.attn.qkv.weight", "encoder.attn.out.weight"]
    assert [p["group"] for p in result["params"]] == [0] * 4 + [1] * 4
    assert result["params"][0]["shape"] == [192, 64]
    assert {p["dtype"] for p in result["params"]} == {"float32"}
    assert result["before"] == [False, -1]
    assert result["after"] == [True, 0]
    assert result["again"][0] == "RuntimeError"
    assert "already loaded" in result["again"][1]
    assert result["adamw"] == [True] * 16
    assert result["adamw_init"] == [0.0] * 16
    # Rprop: prev 0, step_size the learning rate (float64 in the table,
    # rounded in a float32 buffer).
    assert result["rprop_names"] == ["prev", "step_size"]
    assert result["rprop_loaded"] is True
    assert result["rprop_expected"] == [0.0, 0.01, 0.0, 0.01]
    assert result["rprop_init"][0] == [0.0] * 5
    assert result["rprop_init"][1] == [0.01] * 5     # float64 buffer
    assert result["rprop_init"][3] == [float(np.float32(0.01))] * 12
    assert result["capability"] == [9, 0] and result["devices"] == 1
    assert result["available"][0] is True
    assert "CUDA driver 13.0 (%s), 1 device" % stub_driver == \
        result["available"][1]
    # Initialising is device work: fills enqueued on the legacy stream.
    assert "cuMemsetD32Async" in log


def test_stub_hyper_params_and_step(stub_driver, tmp_path):
    result, log = run('''
        from optim_mlir import _optim as o
        gpu = o.GPUOptimizer.compile(open("examples/adamw.mlir").read(),
                                     "sm_90")
        lib = stub()
        gpu.load(0)
        params = [aligned(p["shape"], "float32", 0.5) for p in gpu.params]
        grads = [aligned(p["shape"], "float32", 0.25) for p in gpu.params]
        states = [aligned(p["shape"], "float32", 0.0)
                  for p in gpu.params for _ in gpu.state_names]
        addresses = [a.ctypes.data for a in params + grads + states]
        initial = gpu.get_hyper_param(1, "beta1")
        mark("set")
        gpu.set_hyper_param(1, "beta1", 0.5)
        mark("step")
        first = lib.optimStubLaunches()
        gpu.step([a.ctypes.data for a in params],
                 [a.ctypes.data for a in grads],
                 [a.ctypes.data for a in states])
        count = lib.optimStubLaunches() - first
        mark("counter")
        gpu.set_global_step(7)
        step = gpu.global_step()
        mark("end")
        # What the kernels were given, read from the fake device memory.
        hyper_arg = gpu.num_tables
        args = {}
        for k in range(first, first + count):
            args.update(device_args(gpu, lib, k))
        hyper = read(args[hyper_arg], ctypes.c_double, gpu.hyper_table_size)
        counter = read(args[hyper_arg + 1], ctypes.c_int64, 1)[0]
        tables = sorted(p for t in range(gpu.num_tables)
                        for p in table_pointers(gpu, args[t], t))
        observed = [(lib.optimStubLaunchName(k).decode(),
                     lib.optimStubLaunchGridX(k), lib.optimStubLaunchBlockX(k))
                    for k in range(first, first + count)]
        finish(dict(
            initial=initial, beta1=gpu.get_hyper_param(1, "beta1"),
            hyper_address=args[hyper_arg], hyper=hyper,
            counter_address=args[hyper_arg + 1], counter=counter, step=step,
            tables=tables, addresses=sorted(addresses),
            observed=observed,
            plan=[(l["name"], l["grid"][0], l["block"][0])
                  for l in gpu.launches],
            # Unchanged by the step: the stub runs no kernel.
            params_intact=all(bool(np.all(a == 0.5)) for a in params),
            bad_name=outcome(lambda: gpu.set_hyper_param(0, "nonsense", 1)),
            bad_value=outcome(lambda: gpu.set_hyper_param(0, "weight_decay",
                                                          -1.0)),
            bad_group=outcome(lambda: gpu.set_hyper_param(5, "beta1", 0.5)),
            bad_step=outcome(lambda: gpu.set_global_step(-1)),
        ))
    ''', stub_driver, tmp_path)
    # The new beta1 of group 1 went to its slot of the device table at once
    # (one 8-byte copy: the table is float64), and the table the kernels
    # read holds it.
    assert result["initial"] == pytest.approx(0.9)
    assert result["beta1"] == 0.5
    hyper = result["hyper_address"]
    (copy,) = copies(section(log, "set", "step"))
    size, address = copy
    slot = (address - hyper) // 8
    assert size == 8 and 0 <= slot < len(result["hyper"])
    assert (address - hyper) % 8 == 0
    assert result["hyper"][slot] == 0.5
    assert result["hyper"].count(0.5) == 1
    # One step: the plan's kernels in order, with its grids and blocks.
    assert [tuple(x) for x in result["observed"]] == \
        [tuple(x) for x in result["plan"]]
    assert [(n, g, b) for n, g, b in launches(section(log, "step",
                                                      "counter"))] == \
        [tuple(x) for x in result["plan"]]
    # The buffer tables hold exactly the addresses given.
    assert result["tables"] == result["addresses"]
    # The step counter lives on the device: set, then read back from it.
    counter_copies = [c for c in copies(section(log, "counter", "end"))
                      if c[1] == result["counter_address"]]
    assert counter_copies == [(8, result["counter_address"])]
    assert result["counter"] == 7 and result["step"] == 7
    assert result["params_intact"] is True
    assert result["bad_name"][0] == "ValueError"
    assert "nonsense" in result["bad_name"][1]
    # Rejected values, on a loaded optimizer: ValueError, not a driver error.
    assert result["bad_value"] == [
        "ValueError", "'weight_decay' must be non-negative, got -1.000000"]
    assert result["bad_group"][0] == "ValueError"
    assert "out of range" in result["bad_group"][1]
    assert result["bad_step"][0] == "ValueError"


def test_stub_bad_arguments_before_any_launch(stub_driver, tmp_path):
    result, log = run('''
        from optim_mlir import _optim as o
        gpu = o.GPUOptimizer.compile(open("examples/adamw.mlir").read(),
                                     "sm_90")
        lib = stub()
        p = [aligned(q["shape"], "float32", 0.0) for q in gpu.params]
        g = [aligned(q["shape"], "float32", 0.0) for q in gpu.params]
        s = [aligned(q["shape"], "float32", 0.0)
             for q in gpu.params for _ in gpu.state_names]
        P = [a.ctypes.data for a in p]
        G = [a.ctypes.data for a in g]
        S = [a.ctypes.data for a in s]
        def attempts():
            return dict(
                few_params=outcome(lambda: gpu.step(P[:7], G, S)),
                few_states=outcome(lambda: gpu.step(P, G, S[:15])),
                misaligned=outcome(lambda: gpu.step(
                    P, G[:1] + [G[1] + 4] + G[2:], S)),
                null=outcome(lambda: gpu.step(P, G, S[:15] + [0])),
                negative=outcome(lambda: gpu.step([-16] + P[1:], G, S)),
                not_int=outcome(lambda: gpu.step(["x"] + P[1:], G, S)),
                stream=outcome(lambda: gpu.step(P, G, S, stream=-1)),
                init_count=outcome(lambda: gpu.init_states(S[:3])),
                init_misaligned=outcome(lambda: gpu.init_states(
                    S[:5] + [S[5] + 8] + S[6:])),
                # Parameter 1 given as parameter 0's buffer: written twice.
                aliased=outcome(lambda: gpu.step(P[:1] + P[:1] + P[2:], G,
                                                 S)),
                # A state inside a gradient.
                state_in_grad=outcome(lambda: gpu.step(
                    P, G, S[:3] + [G[0] + 16] + S[4:])),
            )
        unloaded = attempts()
        state = dict(loaded=gpu.is_loaded, launches=lib.optimStubLaunches(),
                     copies=lib.optimStubHtoDCopies(),
                     modules=lib.optimStubLiveModules())
        mark("load")
        gpu.load(0)
        before = (lib.optimStubLaunches(), lib.optimStubHtoDCopies())
        loaded = attempts()
        after = (lib.optimStubLaunches(), lib.optimStubHtoDCopies())
        gpu.step(P, G, S)
        finish(dict(unloaded=unloaded, state=state, loaded=loaded,
                    before=before, after=after,
                    launched=lib.optimStubLaunches() - after[0]))
    ''', stub_driver, tmp_path)
    for attempts in (result["unloaded"], result["loaded"]):
        assert attempts["few_params"] == [
            "ValueError", "expected 8 parameters and gradients, got 7 and 8"]
        assert attempts["few_states"] == [
            "ValueError", "expected 16 state buffers, got 15"]
        kind, message = attempts["misaligned"]
        assert kind == "ValueError"
        assert message.startswith("gradient buffer 1 ('encoder.attn.out."
                                  "weight') is not 16-byte aligned")
        kind, message = attempts["null"]
        assert kind == "ValueError"
        assert message == ("state buffer 15 ('encoder.norm.beta' state "
                           "'moment2') is null")
        assert attempts["negative"][0] == "ValueError"
        assert attempts["not_int"][0] == "TypeError"
        assert attempts["stream"][0] == "ValueError"
        assert attempts["init_count"] == [
            "ValueError", "expected 16 state buffers, got 3"]
        kind, message = attempts["init_misaligned"]
        assert kind == "ValueError" and "state buffer 5" in message
        assert "not 16-byte aligned" in message
        kind, message = attempts["aliased"]
        assert kind in ("ValueError", "RuntimeError"), attempts["aliased"]
        assert "overlap" in message and \
            "encoder.attn.qkv.weight" in message, message
        kind, message = attempts["state_in_grad"]
        assert kind in ("ValueError", "RuntimeError")
        assert "overlap" in message, message
    # Nothing was loaded, copied or launched by the rejected calls.
    assert result["state"] == dict(loaded=False, launches=0, copies=0,
                                   modules=0)
    assert "cuModuleLoadData" not in log[:log.index("mark: load\n")]
    assert log.count("cuModuleLoadData") == 1
    assert result["before"] == result["after"]
    assert result["launched"] > 0  # the good step runs


def test_stub_device_buffer(stub_driver, tmp_path):
    result, _ = run('''
        from optim_mlir import _optim as o
        lib = stub()
        buf = o.DeviceBuffer(64)
        live = lib.optimStubLiveAllocations()
        src = np.arange(8, dtype=np.float64)
        buf.copy_from_host(src)
        back = np.zeros(8)
        buf.copy_to_host(back)
        part = np.full(2, -1.0)
        buf.copy_to_host(part, 0, 16)    # elements 2 and 3
        buf.memset(0)
        zeros = np.ones(8)
        buf.copy_to_host(zeros)
        o.cuda_synchronize(0, 0)
        bad = dict(
            range=outcome(lambda: buf.copy_from_host(src, 0, 8)),
            strided=outcome(lambda: buf.copy_to_host(np.zeros(16)[::2])),
            readonly=outcome(lambda: buf.copy_to_host(
                np.frombuffer(bytes(64), np.float64))),
            not_array=outcome(lambda: buf.copy_from_host([1.0, 2.0])),
            device=outcome(lambda: o.DeviceBuffer(8, 3)),
        )
        nbytes, device, ptr = buf.nbytes, buf.device, buf.ptr
        buf.release()
        finish(dict(live=live, back=back.tolist(), part=part.tolist(),
                    zeros=zeros.tolist(), bad=bad, nbytes=nbytes,
                    device=device, aligned=ptr % 16 == 0,
                    released=(buf.ptr, lib.optimStubLiveAllocations())))
    ''', stub_driver, tmp_path)
    assert result["live"] == 1
    assert result["back"] == list(range(8))
    assert result["part"] == [2.0, 3.0]
    assert result["zeros"] == [0.0] * 8
    assert result["bad"]["range"][0] == "ValueError"
    assert "exceed a device buffer of 64 bytes" in result["bad"]["range"][1]
    assert result["bad"]["strided"][0] == "ValueError"
    assert result["bad"]["readonly"][0] == "ValueError"
    assert result["bad"]["not_array"][0] == "TypeError"
    assert result["bad"]["device"][0] == "RuntimeError"
    assert "CUDA device 3 is out of range" in result["bad"]["device"][1]
    assert result["nbytes"] == 64 and result["device"] == 0
    assert result["aligned"] is True
    assert result["released"] == [0, 0]


# ---------------------------------------------------------------------------
# The fake driver: optim_mlir.nn with target='GPU'
# ---------------------------------------------------------------------------

def test_stub_nn_target_gpu(stub_driver, tmp_path):
    result, log = run('''
        from optim_mlir import nn, _optim as o
        rng = np.random.default_rng(0)
        shapes = [("dense.weight", (8, 16)), ("dense.bias", (5,)),
                  ("norm.gamma", (3,)), ("empty", (0,))]
        ps = [nn.Parameter(rng.standard_normal(s).astype(np.float32), n)
              for n, s in shapes]
        before = [p.asnumpy() for p in ps]
        opt = nn.Adam(ps, learning_rate=0.01, weight_decay=0.01,
                      target="GPU")
        grads = [rng.standard_normal(p.shape).astype(np.float32)
                 for p in ps]
        mark("step1")
        r1 = opt(grads)
        mark("step2")
        opt(grads)
        mark("lr")
        opt.learning_rate = 0.5
        opt(grads)
        mark("global_step")
        opt.global_step = 10
        opt(grads)
        mark("bad")
        bad = outcome(lambda: opt([g[:1] for g in grads]))
        mark("after_bad")
        intact = all(np.array_equal(a, p.data) for a, p in zip(before, ps))
        moments_zero = all(not np.any(m.data) for m in opt.moment1 +
                           opt.moment2)
        # The device copies of the gradients are those given.
        part = opt._parts[0]
        n = len(part.indices)
        device_grads = []
        for j, i in enumerate(part.indices):
            a = np.empty_like(grads[i])
            if a.nbytes:
                part.gpu_memory.copy_to_host(a, 0, part.gpu_offsets[n + j])
            device_grads.append(bool(np.array_equal(a, grads[i])))
        o.cuda_synchronize(0, 0)
        # Parameters written on the host between steps are uploaded.
        ps[0].set_data(np.full((8, 16), 3.0, np.float32))
        opt(grads)
        set_data = bool(np.all(ps[0].data == 3.0))
        # Loaded states are uploaded at the next step (and come back).
        sd = opt.state_dict()
        sd["states"]["moment1"]["dense.bias"] = np.full(5, 7.0, np.float32)
        opt.load_state_dict(sd)
        mark("loaded")
        opt(grads)
        mark("loaded_end")
        moment = opt.moment1[1].asnumpy().tolist()
        steps = int(opt.global_step)
        # Sparse gradients have no GPU step.
        lazy = nn.LazyAdam([nn.Parameter(np.ones((4, 2), np.float32), "e")],
                           target="GPU")
        sparse = outcome(lambda: lazy([(np.array([1], np.int32),
                                        np.ones((1, 2), np.float32))]))
        # Back to the host step: it continues from the arrays.
        opt.target = "CPU"
        host = [p.asnumpy() for p in ps]
        opt(grads)
        host_changed = not np.array_equal(host[1], ps[1].data)
        again = outcome(lambda: setattr(opt, "target", "GPU"))
        finish(dict(
            returned=r1, intact=intact, moments_zero=moments_zero,
            device_grads=device_grads, set_data=set_data, moment=moment,
            steps=steps, bad=bad, sparse=sparse, target=opt.target,
            host_changed=host_changed, again=again,
            kernels=len(part.gpu.launches) if part.gpu else None,
            released=part.gpu is None, lr=opt.get_lr()))
    ''', stub_driver, tmp_path)
    assert result["returned"] is True
    # The kernels do not run on the stub: the parameters' round trip through
    # the device leaves them as they were, and the moments stay zero.
    assert result["intact"] is True and result["moments_zero"] is True
    assert result["device_grads"] == [True] * 4
    assert result["set_data"] is True
    assert result["moment"] == [7.0] * 5
    assert result["steps"] == 13  # set to 10, then three steps
    # Each step: the plan's kernels once, then a wait for the stream.
    step1 = section(log, "step1", "step2")
    kernels = launches(step1)
    assert len(kernels) >= 1
    assert launches(section(log, "step2", "lr")) == kernels
    assert "cuStreamSynchronize" in section(log, "step2", "lr")
    # Hyper-parameters go to the device only when they change; the step
    # counter only when it differs from the optimizer's global step.
    # Both are 8-byte copies (float64 slots, an int64 counter): told apart
    # by their addresses.
    counter = [a for n, a in allocations(step1) if n == 8]
    assert len(counter) == 1
    slots = lambda text: [c for c in copies(text)
                          if c[0] == 8 and c[1] != counter[0]]
    hyper = slots(step1)
    assert len(hyper) >= 1
    assert slots(section(log, "step2", "lr")) == []
    lr_copies = slots(section(log, "lr", "global_step"))
    assert len(lr_copies) == 1 and lr_copies[0][1] in {a for _, a in hyper}
    counter_copies = lambda text: [c for c in copies(text)
                                   if c[1] == counter[0]]
    # Loading uploads the counter once; the kernels increment it from then
    # on, in step with the optimizer's global step.
    assert counter_copies(step1) == [(8, counter[0])]
    assert counter_copies(section(log, "step2", "global_step")) == []
    assert counter_copies(section(log, "global_step", "bad")) == \
        [(8, counter[0])]
    # A rejected gradient: nothing copied or launched.
    assert result["bad"][0] == "ValueError"
    assert "must have shape" in result["bad"][1]
    assert copies(section(log, "bad", "after_bad")) == []
    assert launches(section(log, "bad", "after_bad")) == []
    # After load_state_dict the states go up again (20 bytes: dense.bias).
    loaded = copies(section(log, "loaded", "loaded_end"))
    assert sum(1 for n, _ in loaded if n == 20) == 4  # param, grad, 2 states
    assert result["sparse"][0] == "NotImplementedError"
    assert "target='GPU' takes dense gradients only" in result["sparse"][1]
    assert result["target"] == "CPU" and result["released"] is True
    assert result["host_changed"] is True
    assert result["again"][0] == "ValueError"
    assert "in the 'CPU' environment" in result["again"][1]
    assert result["lr"] == pytest.approx(0.5)


# ---------------------------------------------------------------------------
# The fake driver: the CUDA path of optim_mlir.torch
# ---------------------------------------------------------------------------

# The CUDA step of optim_mlir.torch on host tensors: the fake driver's device
# memory is host memory, so CPU tensors' data_ptr() serve as device
# addresses. Only what torch.cuda provides (the current stream and ordering
# between streams) is replaced: the legacy default stream, no ordering.
TORCH_RUNTIME = '''
import torch
import optim_mlir.torch as ot

class HostRuntime(ot._GPURuntime):
    def stream(self):
        return None

    @staticmethod
    def handle(stream):
        return 0

    def follow(self, stream, previous):
        pass

runtime = HostRuntime(0, "sm_90")
lib = stub()

def entry_of(opt):
    (entry,) = opt.__dict__["_gpu_compiled"].values()
    return entry

def kernel_addresses(entry, first, count):
    args = {}
    for k in range(first, first + count):
        args.update(device_args(entry.gpu, lib, k))
    return args
'''


def test_stub_torch_cuda_path(stub_driver, tmp_path):
    result, log = run(TORCH_RUNTIME + textwrap.dedent('''
        torch.manual_seed(0)
        ps = [torch.randn(8, 16, requires_grad=True),
              torch.randn(5, requires_grad=True),
              torch.randn((), requires_grad=True),
              torch.zeros(0, requires_grad=True)]
        before = [p.detach().clone() for p in ps]
        opt = ot.Adam(ps, lr=0.01)
        for p in ps:
            p.grad = torch.randn_like(p)
        mark("step1")
        first = lib.optimStubLaunches()
        opt._gpu_step(runtime)
        count = lib.optimStubLaunches() - first
        mark("step2")
        opt._gpu_step(runtime)
        mark("lr")
        opt.param_groups[0]["lr"] = 0.5
        opt._gpu_step(runtime)
        mark("load")
        sd = opt.state_dict()
        for s in sd["state"].values():
            s["step"] = torch.tensor(5.0)
        opt.load_state_dict(sd)
        opt._gpu_step(runtime)
        mark("end")
        entry = entry_of(opt)
        args = kernel_addresses(entry, first, count)
        hyper_arg = entry.gpu.num_tables
        tables = sorted(p for t in range(entry.gpu.num_tables)
                        for p in table_pointers(entry.gpu, args[t], t))
        nonempty = [p for p in ps if p.numel()]
        given = sorted([p.data_ptr() for p in nonempty] +
                       [p.grad.data_ptr() for p in nonempty] +
                       [opt.state[p][k].data_ptr() for p in nonempty
                        for k in ("exp_avg", "exp_avg_sq")])
        finish(dict(
            intact=all(torch.equal(a, p.detach())
                       for a, p in zip(before, ps)),
            steps=[float(opt.state[p]["step"]) for p in ps],
            step_on_host=all(opt.state[p]["step"].device.type == "cpu"
                             for p in ps),
            zero_states=all(not opt.state[p][k].any() for p in ps
                            for k in ("exp_avg", "exp_avg_sq")),
            tables=tables, given=given,
            counter_address=args[hyper_arg + 1],
            device_step=entry.device_step,
            global_step=entry.gpu.global_step(),
            compiled=ot.gpu_compile_count, cpu_compiled=ot.compile_count,
            lr=entry.gpu.get_hyper_param(0, "learning_rate"),
        ))
    '''), stub_driver, tmp_path)
    # Kernels do not run on the stub; torch's bookkeeping does.
    assert result["intact"] is True
    assert result["steps"] == [6.0] * 4
    assert result["step_on_host"] is True and result["zero_states"] is True
    assert result["tables"] == result["given"]
    assert result["compiled"] == 1 and result["cpu_compiled"] == 0
    assert result["lr"] == 0.5
    # Hyper-parameters: all at first, then only what changed (Adam's eps
    # follows the bias correction every step; then the new lr).
    # (8-byte float64 slots; the counter is told apart by its address).
    counter = result["counter_address"]
    slots = lambda a, b: [c for c in copies(section(log, a, b))
                          if c[0] == 8 and c[1] != counter]
    assert len(slots("step1", "step2")) >= 5
    assert len(slots("step2", "lr")) == 1
    assert len(slots("lr", "load")) == 2
    # The device counter: incremented by the kernels, set only when the
    # loaded step count differs from it.
    at_counter = lambda a, b: [c for c in copies(section(log, a, b))
                               if c[1] == counter]
    assert at_counter("step1", "step2") == [(8, counter)]  # load() uploads
    assert at_counter("step2", "load") == []
    assert at_counter("load", "end") == [(8, counter)]
    assert result["global_step"] == 5   # set to 5; the stub runs no kernel
    assert result["device_step"] == 6   # what the kernels leave on a GPU


def test_stub_torch_adafactor_factored_states(stub_driver, tmp_path):
    """Adafactor on the CUDA path: new states of their factored shapes on
    the parameters' device, each one in the kernels' tables; a state of
    another shape is refused before anything is copied or launched."""
    result, log = run(TORCH_RUNTIME + textwrap.dedent('''
        torch.manual_seed(2)
        ps = [torch.randn(8, 16, requires_grad=True),
              torch.randn(2, 3, 4, requires_grad=True),
              torch.randn(5, requires_grad=True),
              torch.randn((), requires_grad=True)]
        opt = ot.Adafactor(ps, beta1=0.9)
        for p in ps:
            p.grad = torch.randn_like(p)
        first = lib.optimStubLaunches()
        opt._gpu_step(runtime)
        count = lib.optimStubLaunches() - first
        entry = entry_of(opt)
        args = kernel_addresses(entry, first, count)
        tables = sorted(p for t in range(entry.gpu.num_tables)
                        for p in table_pointers(entry.gpu, args[t], t))
        keys = ("exp_avg", "exp_avg_sq_row", "exp_avg_sq_col")
        given = sorted([p.data_ptr() for p in ps] +
                       [p.grad.data_ptr() for p in ps] +
                       [opt.state[p][k].data_ptr() for p in ps for k in keys])
        shapes = [[list(opt.state[p][k].shape) for k in keys] for p in ps]
        opt.state[ps[0]]["exp_avg_sq_col"] = torch.zeros(8, 16)
        mark("bad")
        bad = outcome(lambda: opt._gpu_step(runtime))
        mark("end")
        finish(dict(shapes=shapes, tables=tables, given=given, bad=bad,
                    steps=[float(opt.state[p]["step"]) for p in ps]))
    '''), stub_driver, tmp_path)
    assert result["shapes"] == [[[8, 16], [8], [16]],
                                [[2, 3, 4], [2, 3], [2, 4]],
                                [[5], [1], [5]], [[], [1], []]]
    assert result["tables"] == result["given"]
    assert result["steps"] == [1.0] * 4
    assert result["bad"][0] == "ValueError"
    assert "exp_avg_sq_col" in result["bad"][1]
    assert copies(section(log, "bad", "end")) == []
    assert launches(section(log, "bad", "end")) == []


def test_stub_torch_sgd_counter_and_alignment(stub_driver, tmp_path):
    result, log = run(TORCH_RUNTIME + textwrap.dedent('''
        torch.manual_seed(1)
        ps = [torch.randn(4, 8, requires_grad=True),
              torch.randn(3, dtype=torch.float64, requires_grad=True)]
        opt = ot.SGD(ps, lr=0.1, momentum=0.9)
        for p in ps:
            p.grad = torch.randn_like(p)
        mark("steps")
        first = lib.optimStubLaunches()
        opt._gpu_step(runtime)
        count = lib.optimStubLaunches() - first
        mark("more")
        opt._gpu_step(runtime)
        opt._gpu_step(runtime)
        mark("misaligned")
        big = torch.zeros(40)
        view = big[1:17].detach().requires_grad_()
        view.grad = torch.ones(16)
        other = ot.SGD([view], lr=0.1, momentum=0.9)
        launched = lib.optimStubLaunches()
        error = outcome(lambda: other._gpu_step(runtime))
        mark("end")
        entry = entry_of(opt)
        args = kernel_addresses(entry, first, count)
        finish(dict(
            counter=args[entry.gpu.num_tables + 1],
            buffers=[opt.state[p]["momentum_buffer"] is not None for p in ps],
            device_step=entry.device_step, error=error,
            launched=lib.optimStubLaunches() - launched,
            other_state=len(other.state),
            tables=entry.gpu.num_tables, plan=len(entry.gpu.launches)))
    '''), stub_driver, tmp_path)
    assert result["buffers"] == [True, True]
    assert result["tables"] == 2   # float32 and float64
    steps = section(log, "steps", "misaligned")
    assert len(launches(steps)) == 3 * result["plan"] > 0
    # SGD's rule tells only its first update from the others: the device
    # counter (0 once loaded, then 1, 2) is never set for the buckets at
    # step counts 0, 1, 1.
    counter = result["counter"]
    assert [c for c in copies(section(log, "steps", "more"))
            if c[1] == counter] == [(8, counter)]  # load() uploads it
    assert [c for c in copies(section(log, "more", "misaligned"))
            if c[1] == counter] == []
    assert result["device_step"] == 3
    kind, message = result["error"]
    assert kind == "ValueError"
    assert "not 16-byte aligned" in message and "parameter 0 of group 0" \
        in message
    assert result["launched"] == 0 and result["other_state"] == 0
    assert launches(section(log, "misaligned", "end")) == []


def test_stub_init_states_from_params_master_weights(stub_driver, tmp_path):
    """init_states(params=) on a GPU optimizer with master weights: each
    master is its parameter widened to float32, the moments start at 0, the
    master of a parameter without one (no elements) may be address 0; and
    without params= the optimizer refuses (its masters would be garbage)."""
    result, log = run('''
        from optim_mlir import _optim as o
        source = """optim.optimizer @mp rule #optim.rule<adam_weight_decay>
            learning_rate 0.001 weight_decay 0.01 {
          optim.param "w" : tensor<37xf16> master f32
          optim.param "g" : tensor<5xf32>
        }"""
        gpu = o.GPUOptimizer.compile(source, "sm_90")
        gpu.load(0)
        rng = np.random.default_rng(3)
        w = aligned((37,), np.float16, rng.uniform(-2, 2, 37))
        g = aligned((5,), np.float32, 1.5)
        ns = len(gpu.state_names)
        states, addresses = [], []
        for info in gpu.params:
            for s in range(ns):
                if info["state_shapes"][s] == [0]:
                    states.append(None)
                    addresses.append(0)
                    continue
                a = aligned(info["state_shapes"][s],
                            {"float32": np.float32}[info["state_dtypes"][s]],
                            np.nan)
                states.append(a)
                addresses.append(a.ctypes.data)
        refused = outcome(lambda: gpu.init_states(addresses))
        gpu.init_states(addresses, params=[w.ctypes.data, g.ctypes.data])
        o.cuda_synchronize(0, 0)
        bad_count = outcome(lambda: gpu.init_states(addresses,
                                                     params=[w.ctypes.data]))
        finish(dict(
            names=gpu.state_names,
            shapes=[p["state_shapes"] for p in gpu.params],
            refused=refused,
            master=[float(x) for x in states[2]],
            expected=[float(x) for x in w.astype(np.float32)],
            moments=[[float(x) for x in states[k]] for k in (0, 1, 3, 4)],
            bad_count=bad_count))
    ''', stub_driver, tmp_path)
    assert result["names"] == ["moment1", "moment2", "master"]
    assert result["shapes"] == [[[37], [37], [37]], [[5], [5], [0]]]
    assert result["refused"][0] == "ValueError"
    assert "master" in result["refused"][1], result["refused"]
    assert result["master"] == result["expected"]
    assert result["moments"] == [[0.0] * 37, [0.0] * 37, [0.0] * 5,
                                 [0.0] * 5]
    assert result["bad_count"][0] == "ValueError"
    assert "expected 2 parameter buffers" in result["bad_count"][1]
