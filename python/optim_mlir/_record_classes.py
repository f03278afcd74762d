"""The classes of the rules defined by their records alone: both front ends
(``optim_mlir.nn``, ``optim_mlir.torch``) build one per rule whose record
sets ``genPythonClasses`` (OptimRules.td), from the rule table the extension
carries. This module gives them the rules and makes a class from a
signature; each front end chooses the signature and what the constructor
does with the arguments."""

import inspect
import re

from ._optim import rule_specs


def record_rules():
    """``(rule, spec)`` of every rule whose Python classes come from its
    record, in ``RuleKind`` order."""
    return [(rule, spec) for rule, spec in rule_specs().items()
            if spec["gen_python_classes"]]


def make_class(rule, spec, module, base, parameters, construct, states,
               namespace=None):
    """Class ``spec["class_name"]`` of ``module``, derived from ``base``,
    whose constructor takes ``parameters`` (``inspect.Parameter``, after
    ``self``) and calls ``construct(self, arguments)`` with the bound
    arguments by name, defaults applied. ``states`` (text) and the record's
    ``class_description`` make its docstring; ``namespace`` adds class
    attributes."""
    name = spec["class_name"]
    signature = inspect.Signature(parameters)

    def __init__(self, *args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        construct(self, dict(bound.arguments))

    __init__.__signature__ = signature.replace(parameters=[
        inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)] +
        list(parameters))
    __init__.__qualname__ = name + ".__init__"
    __init__.__module__ = module
    # The record's text is Markdown: `code` becomes reST's ``code``.
    description = re.sub(r"`([^`]+)`", r"``\1``", spec["class_description"])
    doc = ("%s\n\n``%s%s``.  %s.  Built from the ``%s`` rule record "
           "(OptimRules.td)." % (description, name, signature, states, rule))
    attributes = dict(namespace or {})
    attributes.update(__init__=__init__, __doc__=doc, __module__=module,
                      __qualname__=name)
    return type(name, (base,), attributes)
