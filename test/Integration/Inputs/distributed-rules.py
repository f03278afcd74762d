"""For every update rule: `optim-run --distributed` under mpirun prints the
same per-step lines (learning rates, checksum of every parameter) as one
process. Usage: distributed-rules.py MPIRUN NP MODE [RULE...]

MPIRUN is the mpirun command line (split on spaces). Prints one line per rule:
"<rule> np <NP> <mode>: identical (<steps> steps)" or the first difference.
"""

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.environ.get("OPTIM_OBJ_ROOT", ""),
                                "python"))
from optim_mlir import _optim  # noqa: E402

STEPS = 3


def optimizer_ir(rule, sparse, mode):
    sharding = " sharding <%s>" % mode
    lr = "learning_rate 1.0e-02 : f64"
    if sparse:
        return ("optim.optimizer @o rule #optim.rule<%s> %s%s {\n"
                '  optim.param "emb" : tensor<50x8xf32> sparse\n'
                '  optim.param "w" : tensor<37x5xf32>\n'
                '  optim.param "b" : tensor<300xf32>\n'
                "}\n" % (rule, lr, sharding))
    return ("optim.optimizer @o rule #optim.rule<%s> %s%s "
            "attributes {weight_decay = 1.0e-02 : f64} {\n"
            "  optim.group weight_decay 1.0e-02 {\n"
            '    optim.param "a" : tensor<37x5xf32>\n'
            '    optim.param "b.gamma" : tensor<100xf32>\n'
            "  }\n"
            "  optim.group learning_rate 5.0e-03 : f64 weight_decay 0.0 "
            "grad_centralization {\n"
            '    optim.param "c" : tensor<3x7xf32>\n'
            '    optim.param "d" : tensor<1000xf32>\n'
            '    optim.param "e" : tensor<12x40xf32>\n'
            "  }\n"
            "}\n" % (rule, lr, sharding))


def step_lines(output):
    return [line for line in output.splitlines() if line.startswith("step ")]


def main():
    mpirun = sys.argv[1].split()
    np, mode = sys.argv[2], sys.argv[3]
    specs = _optim.rule_specs()
    rules = sys.argv[4:] or sorted(specs)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for rule in rules:
            path = os.path.join(tmp, rule + ".mlir")
            with open(path, "w") as f:
                f.write(optimizer_ir(rule, specs[rule]["sparse_grad"], mode))
            args = [path, "--steps", str(STEPS)]
            single = subprocess.run(["optim-run"] + args, capture_output=True,
                                    text=True)
            sharded = subprocess.run(
                mpirun + ["-np", np, "optim-run"] + args + ["--distributed"],
                capture_output=True, text=True)
            expected, got = step_lines(single.stdout), step_lines(sharded.stdout)
            if single.returncode or sharded.returncode or not expected \
                    or expected != got:
                failures += 1
                print("%s np %s %s: DIFFERENT\n single: %s\n%s\n sharded: %s\n%s"
                      % (rule, np, mode, expected, single.stderr[-2000:], got,
                         sharded.stderr[-2000:]))
            else:
                print("%s np %s %s: identical (%d steps)"
                      % (rule, np, mode, len(got)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
