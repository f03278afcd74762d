#!/usr/bin/env python3
"""Parameter shapes of two reference models and optim-dialect IR over them.

* ResNet-50 as torchvision builds it (161 parameters, 25,557,032 values):
  convolution weights (no conv biases), BatchNorm weight/bias, the fc layer.
* BERT-base, 12 layers (199 parameters, 109,482,240 values): embeddings
  (word 30522x768, position 512x768, token type 2x768, LayerNorm), per
  layer query/key/value/output 768x768 with biases, two LayerNorms, the FFN
  768x3072 / 3072x768 with biases, and the pooler.

Optimizers (the text of one ``optim.optimizer``):

* ``resnet50-momentum-gc``: Momentum (lr 0.1, momentum 0.9, weight decay
  1e-4) in two groups: the convolution weights with
  ``grad_centralization``, everything else without;
* ``bert-base-lamb``: Lamb (lr 1e-3, betas 0.9/0.999, eps 1e-6, weight
  decay 0.01) over all of BERT-base in one group.

``--cut N`` keeps only the first N parameters (in model order) and
``--scale S`` divides every dimension by S (rounded up), for quick checks:

    python3 bench/models.py resnet50-momentum-gc [--cut 4] [--scale 1] \
        [--symbol opt] > opt.mlir
"""

import argparse
import os
import sys

try:
    from optim_mlir import ir
except ImportError:  # run from a checkout without PYTHONPATH
    _ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, os.path.join(
        os.environ.get("OPTIM_BUILD_DIR", os.path.join(_ROOT, "build")),
        "python"))
    from optim_mlir import ir

__all__ = ["resnet50_params", "bert_base_params", "optimizer_source",
           "MODELS", "num_elements"]


def num_elements(shape):
    n = 1
    for d in shape:
        n *= int(d)
    return n


def resnet50_params(num_classes=1000):
    """torchvision's resnet50(): [(name, shape)] in ``named_parameters()``
    order (161 entries)."""
    params = []

    def conv(name, cout, cin, k):
        params.append((name + ".weight", (cout, cin, k, k)))

    def bn(name, c):
        params.append((name + ".weight", (c,)))
        params.append((name + ".bias", (c,)))

    conv("conv1", 64, 3, 7)
    bn("bn1", 64)
    inplanes = 64
    for layer, (planes, blocks) in enumerate(
            [(64, 3), (128, 4), (256, 6), (512, 3)], start=1):
        for b in range(blocks):
            prefix = "layer%d.%d" % (layer, b)
            conv(prefix + ".conv1", planes, inplanes, 1)
            bn(prefix + ".bn1", planes)
            conv(prefix + ".conv2", planes, planes, 3)
            bn(prefix + ".bn2", planes)
            conv(prefix + ".conv3", planes * 4, planes, 1)
            bn(prefix + ".bn3", planes * 4)
            if b == 0:  # stride or width change: projection shortcut
                conv(prefix + ".downsample.0", planes * 4, inplanes, 1)
                bn(prefix + ".downsample.1", planes * 4)
            inplanes = planes * 4
    params.append(("fc.weight", (num_classes, 2048)))
    params.append(("fc.bias", (num_classes,)))
    return params


def bert_base_params(layers=12, hidden=768, ffn=3072, vocab=30522,
                     positions=512, token_types=2):
    """BERT-base (HuggingFace ``BertModel`` names): [(name, shape)], 199
    entries for 12 layers. Linear weights are listed as (in, out) for the
    FFN as 768x3072 then 3072x768."""
    h = hidden
    params = [
        ("embeddings.word_embeddings.weight", (vocab, h)),
        ("embeddings.position_embeddings.weight", (positions, h)),
        ("embeddings.token_type_embeddings.weight", (token_types, h)),
        ("embeddings.LayerNorm.weight", (h,)),
        ("embeddings.LayerNorm.bias", (h,)),
    ]
    for i in range(layers):
        prefix = "encoder.layer.%d." % i
        for part in ("attention.self.query", "attention.self.key",
                     "attention.self.value", "attention.output.dense"):
            params.append((prefix + part + ".weight", (h, h)))
            params.append((prefix + part + ".bias", (h,)))
        params.append((prefix + "attention.output.LayerNorm.weight", (h,)))
        params.append((prefix + "attention.output.LayerNorm.bias", (h,)))
        params.append((prefix + "intermediate.dense.weight", (h, ffn)))
        params.append((prefix + "intermediate.dense.bias", (ffn,)))
        params.append((prefix + "output.dense.weight", (ffn, h)))
        params.append((prefix + "output.dense.bias", (h,)))
        params.append((prefix + "output.LayerNorm.weight", (h,)))
        params.append((prefix + "output.LayerNorm.bias", (h,)))
    params.append(("pooler.dense.weight", (h, h)))
    params.append(("pooler.dense.bias", (h,)))
    return params


def _cut(params, cut, scale=1):
    """The first `cut` parameters (all if None), every dimension divided by
    `scale` (rounded up; a shrunken model for quick checks)."""
    params = params if cut is None else params[:cut]
    if scale != 1:
        params = [(name, tuple(max(1, -(-int(d) // scale)) for d in shape))
                  for name, shape in params]
    return params


def _with_dtype(params):
    return [(name, shape, "float32") for name, shape in params]


def resnet50_momentum_gc(cut=None, symbol="opt", scale=1):
    """(source, params): Momentum over ResNet-50, conv weights (4-d) in a
    grad_centralization group, the rest in a second group."""
    params = _cut(resnet50_params(), cut, scale)
    convs = [p for p in params if len(p[1]) == 4]
    rest = [p for p in params if len(p[1]) != 4]
    groups = []
    if convs:
        groups.append({"params": _with_dtype(convs),
                       "grad_centralization": True})
    if rest:
        groups.append({"params": _with_dtype(rest)})
    source = ir.optimizer_ir("momentum", dict(momentum=0.9), groups=groups,
                             learning_rate=0.1, weight_decay=1e-4,
                             order_params=[n for n, _ in params],
                             symbol=symbol)
    return source, params


def bert_base_lamb(cut=None, symbol="opt", scale=1):
    """(source, params): Lamb over BERT-base in one group."""
    params = _cut(bert_base_params(), cut, scale)
    source = ir.optimizer_ir("lamb", dict(beta1=0.9, beta2=0.999, eps=1e-6),
                             params=_with_dtype(params), learning_rate=1e-3,
                             weight_decay=0.01, symbol=symbol)
    return source, params


MODELS = {
    "resnet50-momentum-gc": resnet50_momentum_gc,
    "bert-base-lamb": bert_base_lamb,
}


def optimizer_source(model, cut=None, symbol="opt", scale=1):
    """(source, [(name, shape)]) of one of ``MODELS``; `cut` keeps the first
    parameters, `scale` divides every dimension (both for quick checks)."""
    if model not in MODELS:
        raise ValueError("unknown model %r (one of %s)" %
                         (model, ", ".join(sorted(MODELS))))
    if scale < 1:
        raise ValueError("scale must be at least 1, got %r" % (scale,))
    return MODELS[model](cut=cut, symbol=symbol, scale=scale)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Print the optim-dialect text of a reference optimizer.")
    parser.add_argument("model", choices=sorted(MODELS))
    parser.add_argument("--cut", type=int, default=None,
                        help="keep only the first N parameters")
    parser.add_argument("--scale", type=int, default=1,
                        help="divide every dimension by S (rounded up)")
    parser.add_argument("--symbol", default="opt",
                        help="the optimizer's symbol name")
    args = parser.parse_args(argv)
    if args.cut is not None and args.cut < 1:
        parser.error("--cut must be at least 1")
    if args.scale < 1:
        parser.error("--scale must be at least 1")
    source, _ = optimizer_source(args.model, args.cut, args.symbol,
                                 args.scale)
    sys.stdout.write(source)


if __name__ == "__main__":
    main()
