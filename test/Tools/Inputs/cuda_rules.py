"""Compiles every rule for CUDA with optim-compile and assembles the PTX.

For each rule of the rule table (the extension's rule_specs) and each chip
given, an optimizer of two groups (one with grad_centralization on a
64x64x3x3 conv weight, the other with odd-length vectors; a whole-tensor
rule, which does not take centralization, gets the conv weight without it)
goes through `optim-compile --target cuda --chip C --emit ptx`; the PTX
must hold one kernel per phase, 128-bit loads, and assemble with ptxas for
the same chip. Then ResNet-50 (Momentum with
centralization) must give as many kernels as a 4-parameter cut of it.
Prints one line per check.
"""

import argparse
import os
import re
import subprocess
import sys


SOURCE = """optim.optimizer @opt rule #optim.rule<{rule}> learning_rate 0.1 weight_decay 0.01 {{
  optim.group grad_centralization {{
    optim.param "conv.weight" : tensor<64x64x3x3xf32>
  }}
  optim.group weight_decay 0.0 {{
    optim.param "bn.gamma" : tensor<63xf32>
    optim.param "bn.beta" : tensor<7xf32>
    optim.param "fc.bias" : tensor<1001xf32>
  }}
}}
"""


# The tools run without what this interpreter had preloaded (a sanitizer
# build preloads its shared runtime into Python only; the tools link their
# own).
TOOL_ENV = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}


def compile_ptx(source, chip, out):
    path = out + ".mlir"
    with open(path, "w") as f:
        f.write(source)
    subprocess.run(["optim-compile", path, "--target", "cuda", "--chip", chip,
                    "--emit", "ptx", "-o", out + ".ptx", "--header",
                    out + ".h"], check=True, env=TOOL_ENV)
    with open(out + ".ptx") as f:
        ptx = f.read()
    with open(out + ".h") as f:
        header = f.read()
    return ptx, header


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ptxas", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--chips", default="sm_80,sm_90")
    parser.add_argument("--package", required=True,
                        help="the built Python package's folder")
    parser.add_argument("--models", required=True,
                        help="bench/ of the source tree (models.py)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    sys.path.insert(0, args.models)
    sys.path.insert(0, args.package)
    from optim_mlir import _optim
    specs = _optim.rule_specs()
    for chip in args.chips.split(","):
        failures = []
        for rule, spec in specs.items():
            out = os.path.join(args.out, "%s-%s" % (rule, chip))
            source = SOURCE.format(rule=rule)
            if spec["whole_tensor"]:
                source = source.replace(" grad_centralization", "")
            ptx, header = compile_ptx(source, chip, out)
            entries = len(re.findall(r"\.entry ", ptx))
            wide = len(re.findall(r"\bld\.global\.v4\.", ptx))
            kernels = int(re.search(r"_NUM_KERNELS (\d+)", header).group(1))
            subprocess.run([args.ptxas, "-arch=" + chip, out + ".ptx", "-o",
                            out + ".cubin"], check=True, env=TOOL_ENV)
            print("%s %s: %d kernels, %d entries, %d 128-bit loads, ptxas ok"
                  % (chip, rule, kernels, entries, wide))
            # A whole-tensor rule has no reduction phase: its update and the
            # step counter's kernel.
            expected = 2 if spec["whole_tensor"] else 3
            if kernels != expected or entries != expected or wide == 0:
                failures.append("%s %s" % (chip, rule))
        print("%s: %d rules, %s" % (chip, len(specs),
                                    "every one as expected" if not failures
                                    else "unexpected: " + ", ".join(failures)))

    import models
    counts = []
    for cut in (None, 4):
        source, _ = models.optimizer_source("resnet50-momentum-gc", cut=cut)
        out = os.path.join(args.out, "resnet50-%s" % cut)
        _, header = compile_ptx(source, "sm_90", out)
        counts.append(int(re.search(r"_NUM_KERNELS (\d+)", header).group(1)))
    print("resnet50: %d kernels, cut to 4 parameters: %d kernels"
          % tuple(counts))


if __name__ == "__main__":
    main()
