"""Emit optim-dialect text for an optimizer description.

This is the bridge from Python-level optimizer descriptions (the
MindSpore-style and torch-style front ends) to the compiler: only structure
and the declared values go into the IR; the runtime reads hyper-parameters
from a table, so changing them later never recompiles.
"""

import math
import re

from ._optim import schedule_specs as _schedule_specs

__all__ = ["float_literal", "learning_rate_attr", "rule_attr", "optimizer_ir",
           "SCHEDULES"]

# Schedule attribute name -> its parameters in order, each with its Python
# type: from the table the extension carries, generated from the attribute
# definitions (OptimAttrs.td).
_KINDS = {"float": float, "int": int, "bool": bool}
SCHEDULES = {name: tuple((param, _KINDS[kind]) for param, kind in params)
             for name, params in _schedule_specs().items()}

_DTYPES = {"float32": "f32", "float64": "f64", "float16": "f16",
           "bfloat16": "bf16"}


def float_literal(value):
    """An MLIR float literal that reads back to the same double."""
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        raise ValueError("hyper-parameters must be finite, got %r" % value)
    text = repr(value)
    if "e" in text or "E" in text:
        mantissa, exponent = text.lower().split("e")
        if "." not in mantissa:
            mantissa += ".0"
        return "%se%s" % (mantissa, exponent)
    if "." not in text:
        text += ".0"
    return text


def learning_rate_attr(lr):
    """The attribute text of a learning rate: a number (constant), a list of
    numbers (one per step), or a ``(schedule_name, {param: value})`` pair."""
    if isinstance(lr, tuple) and len(lr) == 2 and isinstance(lr[0], str):
        name, params = lr
        if name == "piecewise":
            milestones = ", ".join(str(int(m)) for m in params["milestones"])
            values = ", ".join(float_literal(v) for v in params["values"])
            return "#optim.piecewise<milestones = [%s], values = [%s]>" % (
                milestones, values)
        if name not in SCHEDULES:
            raise ValueError("unknown learning-rate schedule %r" % (name,))
        parts = []
        for key, kind in SCHEDULES[name]:
            value = params[key]
            if kind is bool:
                parts.append("%s = %s" % (key, "true" if value else "false"))
            elif kind is int:
                parts.append("%s = %d" % (key, int(value)))
            else:
                parts.append("%s = %s" % (key, float_literal(value)))
        return "#optim.%s<%s>" % (name, ", ".join(parts))
    if isinstance(lr, (list, tuple)):
        return "#optim.per_step<[%s]>" % ", ".join(float_literal(v) for v in lr)
    return float_literal(lr)


def rule_attr(rule, hyper):
    """``#optim.rule<kind, key = value, ...>``; booleans are options."""
    parts = [rule]
    for key, value in hyper.items():
        if isinstance(value, bool):
            parts.append("%s = %s" % (key, "true" if value else "false"))
        else:
            parts.append("%s = %s" % (key, float_literal(value)))
    return "#optim.rule<%s>" % ", ".join(parts)


def _quote(name):
    if not re.fullmatch(r"[^\"\\\n]+", name):
        raise ValueError("parameter names must be non-empty and hold no "
                         "quotes, backslashes or newlines: %r" % (name,))
    return '"%s"' % name


def _tensor_type(shape, dtype):
    if dtype not in _DTYPES:
        raise TypeError("unsupported dtype %r" % (dtype,))
    dims = "".join("%dx" % int(d) for d in shape)
    return "tensor<%s%s>" % (dims, _DTYPES[dtype])


_PRECISION_KEYS = ("master", "states")


def _precision(name, dtype, precision):
    """The ``master T`` / ``states T`` suffix of a parameter line from its
    precision dict (``{"master": "float32", "states": "float32"}``; a key
    absent or None is not written)."""
    if not isinstance(precision, dict):
        raise TypeError("parameter %r: the precision element must be a dict "
                        "with keys %s, got %r"
                        % (name, " and ".join(_PRECISION_KEYS), precision))
    unknown = sorted(set(precision) - set(_PRECISION_KEYS))
    if unknown:
        raise ValueError("parameter %r: unknown precision keys %s (expected "
                         "%s)" % (name, unknown, " and ".join(_PRECISION_KEYS)))
    text = ""
    for key in _PRECISION_KEYS:
        value = precision.get(key)
        if value is None:
            continue
        if value not in _DTYPES:
            raise TypeError("parameter %r: %s dtype %r is not one of %s"
                            % (name, key, value, sorted(_DTYPES)))
        if dtype not in ("float16", "bfloat16"):
            raise ValueError("parameter %r: %s %s applies only to float16 "
                             "and bfloat16 parameters, not %s"
                             % (name, key, value, dtype))
        text += " %s %s" % (key, _DTYPES[value])
    return text


def _param_line(indent, param):
    name, shape, dtype = param[:3]
    sparse = bool(param[3]) if len(param) > 3 else False
    if len(param) > 5:
        raise ValueError("a parameter is (name, shape, dtype[, sparse[, "
                         "precision]]), got %d elements" % len(param))
    if sparse and len(shape) < 1:
        raise ValueError("parameter %r: a sparse gradient needs rank >= 1"
                         % (name,))
    precision = "" if len(param) < 5 or param[4] is None else \
        _precision(name, dtype, param[4])
    if sparse and precision:
        raise ValueError("parameter %r: a sparse parameter takes no master "
                         "weights or states of another dtype" % (name,))
    return "%soptim.param %s : %s%s%s" % (indent, _quote(name),
                                           _tensor_type(shape, dtype),
                                           " sparse" if sparse else "",
                                           precision)


def optimizer_ir(rule, hyper, params=None, groups=None, learning_rate=0.001,
                 weight_decay=0.0, loss_scale=1.0, order_params=None,
                 symbol="opt", unique=True, dynamic_loss_scale=None,
                 max_grad_norm=None):
    """The text of one ``optim.optimizer``.

    ``params``: ``[(name, shape, dtype), ...]`` for an ungrouped optimizer;
    or ``groups``: ``[{"params": [...], "lr": ..., "weight_decay": ...,
    "grad_centralization": bool}, ...]`` (absent keys inherit).  A parameter
    tuple may carry a 4th element ``sparse`` (bool): its gradient is a sparse
    ``(indices, values)`` pair (``optim.param ... sparse``; only the
    ``lazy_adam`` rule accepts one, and never with weight decay on it).
    A 5th element, the parameter's precision (docs/Mixed-precision.md),
    is None or a dict of dtype names (``"float32"``, ``"float16"``,
    ``"bfloat16"``) for a float16 or bfloat16 parameter: ``"master"``
    (``"float32"``: a float32 master copy the rule updates, the parameter
    rewritten from it, rounded; written ``master f32``) and ``"states"``
    (the dtype of its states, ``"float32"`` or its own; written
    ``states f32``; float32 by default with a master), e.g.
    ``("w", (64, 32), "bfloat16", False, {"master": "float32"})``.
    ``unique``: whether duplicate row indices of sparse gradients are merged
    (summed) before the update; ``False`` emits ``unique false`` (the indices
    must then be unique).
    ``dynamic_loss_scale``: ``None``, or a dict with ``growth_factor``,
    ``backoff_factor``, ``growth_interval`` and ``min_scale``: the loss scale
    starts at ``loss_scale`` and changes from step to step; a step whose
    gradients are not all finite changes nothing. ``max_grad_norm``:
    ``None``, or the global norm the unscaled gradients are clipped to.
    """
    if not isinstance(unique, bool):
        raise TypeError("unique must be a bool, got %r" % (unique,))
    control = ""
    if dynamic_loss_scale is not None:
        d = dynamic_loss_scale
        control += (" dynamic<growth_factor = %s, backoff_factor = %s, "
                    "growth_interval = %d, min_scale = %s>" % (
                        float_literal(d["growth_factor"]),
                        float_literal(d["backoff_factor"]),
                        int(d["growth_interval"]),
                        float_literal(d.get("min_scale", 0.0))))
    if max_grad_norm is not None:
        control += " max_grad_norm %s" % float_literal(max_grad_norm)
    head = "optim.optimizer @%s rule %s learning_rate %s weight_decay %s " \
           "loss_scale %s%s %s{" % (symbol, rule_attr(rule, hyper),
                                    learning_rate_attr(learning_rate),
                                    float_literal(weight_decay),
                                    float_literal(loss_scale), control,
                                    "" if unique else "unique false ")
    lines = [head]
    if groups is None:
        lines += [_param_line("  ", p) for p in params]
    else:
        for group in groups:
            attrs = ""
            if group.get("lr") is not None:
                attrs += " learning_rate " + learning_rate_attr(group["lr"])
            if group.get("weight_decay") is not None:
                attrs += " weight_decay " + float_literal(group["weight_decay"])
            if group.get("grad_centralization"):
                attrs += " grad_centralization"
            lines.append("  optim.group%s {" % attrs)
            lines += [_param_line("    ", p) for p in group["params"]]
            lines.append("  }")
        if order_params is not None:
            lines.append("  optim.order_params [%s]" % ", ".join(
                _quote(n) for n in order_params))
    lines.append("}")
    return "\n".join(lines) + "\n"
