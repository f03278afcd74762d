"""Argument checks with MindSpore's error types (private to ``optim_mlir.nn``).

The helpers follow ``mindspore._checkparam``: a value of the wrong type is a
``TypeError`` (``bool`` never passes for ``int`` or ``float``), a value of the
right type outside its range a ``ValueError``; ``nan`` and ``inf`` are
``ValueError`` wherever a float is checked.
"""

import math

__all__ = ["prefix", "check_value_type", "check_bool", "check_float",
           "check_positive_int", "check_is_float", "describe_range",
           "in_range"]


def prefix(prim_name):
    """``"For 'Adam', the "`` or ``"The "``."""
    return "For '%s', the " % prim_name if prim_name else "The "


def _type_names(types):
    names = [t.__name__ for t in types]
    return names[0] if len(names) == 1 else "one of %s" % ", ".join(names)


def check_value_type(arg_name, arg_value, valid_types, prim_name=None):
    """``TypeError`` unless ``arg_value`` is one of ``valid_types`` (a bool is
    only accepted when ``bool`` is listed)."""
    types = tuple(valid_types) if isinstance(valid_types, (list, tuple)) \
        else (valid_types,)
    if (isinstance(arg_value, bool) and bool not in types) or \
            not isinstance(arg_value, types):
        raise TypeError("%s'%s' must be %s, but got %s." % (
            prefix(prim_name), arg_name, _type_names(types),
            type(arg_value).__name__))
    return arg_value


def check_bool(arg_name, arg_value, prim_name=None):
    return check_value_type(arg_name, arg_value, [bool], prim_name)


def describe_range(rng):
    """``(lo, hi, lo_inclusive, hi_inclusive)`` (``None`` = unbounded) as
    interval text."""
    lo, hi, lo_inc, hi_inc = rng
    left = ("[" if lo_inc else "(") + ("-inf" if lo is None else repr(float(lo)))
    right = ("inf" if hi is None else repr(float(hi))) + ("]" if hi_inc else ")")
    return "%s, %s" % (left, right)


def in_range(value, rng):
    lo, hi, lo_inc, hi_inc = rng
    if lo is not None and (value < lo or (value == lo and not lo_inc)):
        return False
    if hi is not None and (value > hi or (value == hi and not hi_inc)):
        return False
    return True


ANY = (None, None, False, False)
NON_NEGATIVE = (0.0, None, True, False)
POSITIVE = (0.0, None, False, False)
OPEN_UNIT = (0.0, 1.0, False, False)
HALF_OPEN_UNIT = (0.0, 1.0, True, False)
CLOSED_UNIT = (0.0, 1.0, True, True)
NON_POSITIVE = (None, 0.0, False, True)
GREATER_THAN_ONE = (1.0, None, False, False)


def check_float(arg_name, arg_value, prim_name=None, rng=ANY,
                allow_int=False):
    """A finite float (an int too with ``allow_int``, converted) inside
    ``rng``; returns it as a Python float."""
    types = [float, int] if allow_int else [float]
    check_value_type(arg_name, arg_value, types, prim_name)
    value = float(arg_value)
    if math.isnan(value) or math.isinf(value):
        raise ValueError("%s'%s' must be a finite number, but got %r." % (
            prefix(prim_name), arg_name, arg_value))
    if not in_range(value, rng):
        raise ValueError("%s'%s' must be in %s, but got %r." % (
            prefix(prim_name), arg_name, describe_range(rng), arg_value))
    return value


def check_is_float(arg_name, arg_value, prim_name=None):
    return check_value_type(arg_name, arg_value, [float], prim_name)


def check_positive_int(arg_name, arg_value, prim_name=None):
    """An ``int`` (not bool) > 0."""
    check_value_type(arg_name, arg_value, [int], prim_name)
    if arg_value <= 0:
        raise ValueError("%s'%s' must be a positive int, but got %r." % (
            prefix(prim_name), arg_name, arg_value))
    return arg_value
