"""The Python layer's rule and schedule knowledge comes from the extension,
which carries the tables generated from the rule records (OptimRules.td) and
the attribute definitions (OptimAttrs.td): nothing is mirrored by hand."""

import inspect
import re

import numpy as np
import pytest
import torch

from optim_mlir import _optim, ir, nn
import optim_mlir.torch as otorch

# The rules whose front-end classes are built from their records.
RECORD_RULES = {rule: spec for rule, spec in _optim.rule_specs().items()
                if spec["gen_python_classes"]}


def test_rule_table_matches_the_compiled_rules():
    specs = _optim.rule_specs()
    # Every rule the dialect parses is in the table, and the table's state
    # names are what a compiled optimizer reports.
    for rule, spec in specs.items():
        if spec["sparse_grad"]:
            continue
        hyper = {h["name"]: h["default"] for h in spec["hyper_params"]}
        src = ir.optimizer_ir(rule, hyper, [("w", (4,), "float32")],
                              learning_rate=0.1)
        compiled = _optim.CompiledOptimizer(src)
        active = [s["name"] for s in spec["states"] if not s["requires"] or
                  dict(spec["options"]).get(s["requires"], False)]
        assert list(compiled.state_names) == active, rule


def test_ranges_come_from_the_records():
    specs = _optim.rule_specs()
    rprop = {h["name"]: h for h in specs["rprop"]["hyper_params"]}
    assert rprop["etaplus"]["range"] == (1.0, None, False, False)
    assert rprop["etaplus"]["range_text"] == "in (1, inf)"
    ftrl = {h["name"]: h for h in specs["ftrl"]["hyper_params"]}
    assert ftrl["initial_accum"]["init_only"]
    assert ftrl["lr_power"]["range"] == (None, 0.0, False, True)
    # nn validates set values against those ranges, with MindSpore's message.
    p = nn.Parameter(np.zeros(4, np.float32), name="w")
    opt = nn.Rprop([p], learning_rate=0.1)
    with pytest.raises(ValueError, match="etaplus"):
        opt.set_hyper_param("etaplus", 1.0)
    opt.set_hyper_param("etaplus", 1.5)
    assert opt.get_hyper_param("etaplus") == 1.5


def test_decay_filter_is_the_compilers():
    assert _optim.default_decay_filter("conv1.weight")
    assert not _optim.default_decay_filter("bn.gamma")
    assert not _optim.default_decay_filter("layernorm.beta")
    params = [nn.Parameter(np.zeros(2, np.float32), name=n)
              for n in ("fc.weight", "bn.gamma", "bn.beta", "fc.bias")]
    opt = nn.Momentum(params, learning_rate=0.1, momentum=0.9,
                      weight_decay=0.01)
    assert opt.decay_flags == (True, False, False, True)


def test_schedules_come_from_the_attribute_definitions():
    specs = _optim.schedule_specs()
    assert specs["cosine_decay"] == [("min_lr", "float"), ("max_lr", "float"),
                                     ("decay_steps", "int")]
    assert ir.SCHEDULES["warmup"] == (("learning_rate", float),
                                      ("warmup_steps", int))
    text = ir.learning_rate_attr(("polynomial_decay", {
        "learning_rate": 0.1, "end_learning_rate": 0.01, "decay_steps": 10,
        "power": 2.0, "update_decay_steps": True}))
    assert text.startswith("#optim.polynomial_decay<learning_rate = 0.1, "
                           "end_learning_rate = 0.01, decay_steps = 10, "
                           "power = 2.0, update_decay_steps = true>")


def test_record_classes_are_flagged_in_the_table():
    assert {"lion", "adan"} <= set(RECORD_RULES)
    assert RECORD_RULES["lion"]["default_learning_rate"] == 1e-4
    assert RECORD_RULES["adan"]["default_learning_rate"] == 1e-3
    assert _optim.rule_specs()["adam"]["default_learning_rate"] is None
    assert not _optim.rule_specs()["adam"]["gen_python_classes"]


@pytest.mark.parametrize("rule", sorted(r for r, s in RECORD_RULES.items()
                                         if s["gen_nn_class"]))
def test_nn_record_class(rule):
    """Every flagged record has an optim_mlir.nn class with the record's
    name, defaults, states and docstring."""
    spec = RECORD_RULES[rule]
    name = spec["class_name"]
    cls = getattr(nn, name)
    assert name in nn.__all__
    assert issubclass(cls, nn.Optimizer)
    assert (cls.__name__, cls.__qualname__, cls.__module__) == (
        name, name, "optim_mlir.nn")
    assert cls.__doc__.startswith(spec["class_description"].split()[0])
    hypers = [(h["name"], h["default"]) for h in spec["hyper_params"]]
    expected = ([("params", inspect.Parameter.empty),
                 ("learning_rate", spec["default_learning_rate"])] + hypers +
                [("weight_decay", 0.0), ("loss_scale", 1.0),
                 ("target", "CPU")])
    signature = inspect.signature(cls)
    assert [(p.name, p.default) for p in signature.parameters.values()] == \
        expected
    assert signature.parameters["target"].kind == \
        inspect.Parameter.KEYWORD_ONLY
    p = nn.Parameter(np.ones(3, np.float32), name="w")
    opt = cls([p])
    assert float(opt.learning_rate.asnumpy()) == pytest.approx(
        spec["default_learning_rate"], rel=1e-6)
    for hyper, default in hypers:
        assert opt.get_hyper_param(hyper) == default
    for state in spec["states"]:
        (value,) = getattr(opt, state["name"])
        assert np.all(value.asnumpy() == state["init"])
    # Positional arguments in the signature's order.
    values = [h["default"] * 0.5 for h in spec["hyper_params"]]
    opt = cls([p], 0.05, *values)
    assert [opt.get_hyper_param(h) for h, _ in hypers] == values
    with pytest.raises(TypeError):
        cls([p], 0.05, *values, 0.0, 1.0, "CPU")


def _tuples(spec):
    """The torch class's tuple arguments: name -> hyper-parameters."""
    tuples = {}
    for h in spec["hyper_params"]:
        name = h["tuple_arg"] or ("betas" if h["name"].startswith("beta")
                                  else "")
        if name:
            tuples.setdefault(name, []).append(h)
    return tuples


@pytest.mark.parametrize("rule", sorted(r for r, s in RECORD_RULES.items()
                                         if s["gen_torch_class"]))
def test_torch_record_class(rule):
    """Every flagged record has an optim_mlir.torch class with torch's
    conventions: lr, betas gathered, the other hyper-parameters by name,
    then weight_decay and keyword-only maximize, or, for a class torch.optim
    has too (RAdam, Adagrad, ...), torch's own arguments in torch's order,
    with the record's defaults (tuple arguments gathered, computed
    hyper-parameters not arguments; test_torch_parity and
    test_torch_rules compare the whole signature and the groups)."""
    spec = RECORD_RULES[rule]
    name = spec["class_name"]
    cls = getattr(otorch, name)
    assert name in otorch.__all__
    assert issubclass(cls, torch.optim.Optimizer)
    assert (cls.__name__, cls.__qualname__, cls.__module__) == (
        name, name, "optim_mlir.torch")
    assert cls.__doc__.startswith(spec["class_description"].split()[0])
    hypers = spec["hyper_params"]
    tuples = {t: tuple(h["default"] for h in hs)
              for t, hs in _tuples(spec).items()}
    in_tuples = {h["name"] for hs in _tuples(spec).values() for h in hs}
    others = [(h["name"], h["default"]) for h in hypers
              if h["name"] not in in_tuples and not h["computed"]]
    options = [(o, d) for o, d in spec["options"]
               if o not in spec["option_positive"]]
    signature = inspect.signature(cls)
    got = [(p.name, p.default) for p in signature.parameters.values()]
    if hasattr(torch.optim, name):
        theirs = inspect.signature(getattr(torch.optim, name)).parameters
        assert [p.name for p in signature.parameters.values()] == \
            list(theirs)
        expected = dict([("params", inspect.Parameter.empty),
                         ("lr", spec["default_learning_rate"])] +
                        list(tuples.items()) + others + options)
        tail = [(n, p.default) for n, p in theirs.items()
                if n not in expected]
        assert got == [(n, expected.get(n, dict(tail).get(n)))
                       for n in theirs]
    else:
        tail = [("weight_decay", 0.0), ("maximize", False)]
        assert signature.parameters["maximize"].kind == \
            inspect.Parameter.KEYWORD_ONLY
        assert got == [("params", inspect.Parameter.empty),
                       ("lr", spec["default_learning_rate"])] + \
            list(tuples.items()) + others + options + tail
    opt = cls([torch.zeros(3, requires_grad=True)])
    group = opt.param_groups[0]
    assert group["lr"] == spec["default_learning_rate"]
    for key, default in list(tuples.items()) + others + options + tail:
        assert group[key] == default
    values = opt._SCALARS.values({}, group, 1) if opt._SCALARS else ()
    hyper = opt._hyper(group, 1, values)
    assert {h["name"] for h in hypers if not h["init_only"]} | \
        {"learning_rate", "weight_decay", "loss_scale"} == set(hyper)


def _torch_message(name, kwargs, message):
    """The message to expect from optim_mlir.torch.<name>(**kwargs): where
    torch.optim has the class too, the ValueError torch raises for the same
    arguments (its checks run first), else `message`."""
    counterpart = getattr(torch.optim, name, None)
    if counterpart is not None:
        try:
            counterpart([torch.zeros(3, requires_grad=True)], **kwargs)
        except ValueError as error:
            return re.escape(str(error))
    return message


@pytest.mark.parametrize("rule", sorted(RECORD_RULES))
def test_record_classes_check_the_record_ranges(rule):
    """A hyper-parameter outside its record's range is a ValueError in both
    front ends, as are torch's own checks (lr, betas, weight_decay)."""
    spec = RECORD_RULES[rule]
    name = spec["class_name"]
    p = nn.Parameter(np.ones(3, np.float32), name="w")
    t = torch.zeros(3, requires_grad=True)
    tuples = _tuples(spec)
    for h in spec["hyper_params"]:
        lower, upper, lower_closed, upper_closed = h["range"]
        if h["computed"] or (lower is None and upper is None):
            continue
        bad = (lower if not lower_closed else lower - 1.0) \
            if lower is not None else \
            (upper if not upper_closed else upper + 1.0)
        if spec["gen_nn_class"]:
            with pytest.raises(ValueError, match=h["name"]):
                getattr(nn, name)([p], **{h["name"]: bad})
        if not spec["gen_torch_class"]:
            continue
        tuple_name = next((n for n, hs in tuples.items() if h in hs), None)
        if tuple_name is not None:
            members = tuples[tuple_name]
            values = [b["default"] for b in members]
            values[members.index(h)] = bad
            kwargs = {tuple_name: tuple(values)}
            message = "Invalid beta parameter at index %d" % \
                members.index(h) if tuple_name == "betas" else \
                "Invalid %s value" % h["name"]
        else:
            kwargs = {h["name"]: bad}
            message = "Invalid %s value" % h["name"]
        with pytest.raises(ValueError,
                           match=_torch_message(name, kwargs, message)):
            getattr(otorch, name)([t], **kwargs)
    if not spec["gen_torch_class"]:
        return
    with pytest.raises(ValueError, match="learning rate"):
        getattr(otorch, name)([t], lr=-1.0)
    if "weight_decay" in inspect.signature(getattr(otorch, name)).parameters:
        with pytest.raises(ValueError, match="weight_decay"):
            getattr(otorch, name)([t], weight_decay=-1.0)
    for tuple_name, members in tuples.items():
        kwargs = {tuple_name: (0.5,) * (len(members) + 1)}
        with pytest.raises(ValueError,
                           match=_torch_message(name, kwargs, tuple_name)):
            getattr(otorch, name)([t], **kwargs)
    if "betas" in tuples:
        with pytest.raises(ValueError, match="beta parameter at index 0"):
            getattr(otorch, name)([t], betas=(1.0,) * len(tuples["betas"]))


def test_torch_record_states_start_at_their_init(float32_default_dtype):
    """A record state with a nonzero init starts there in optim_mlir.torch
    (as in optim_mlir.nn): Lion with exp_avg starting at 0.5, against the
    reference."""
    class ShiftedLion(otorch.Lion):
        pass
    ShiftedLion._STATE_INITS = {"exp_avg": 0.5}
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    opt = ShiftedLion([x], lr=0.1, betas=(0.9, 0.99))
    x.grad = torch.tensor([-1.0, 4.0, -0.5])
    opt.step()
    import reference as R
    expected, states = R.lion(np.array([1.0, -2.0, 3.0]),
                              np.array([-1.0, 4.0, -0.5]),
                              {"exp_avg": np.full(3, 0.5)},
                              learning_rate=0.1)
    np.testing.assert_allclose(x.detach().numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(opt.state[x]["exp_avg"].numpy(),
                               states["exp_avg"], rtol=1e-6)


def test_record_classes_follow_the_front_end_flags():
    """genNNClass / genTorchClass: each front end builds exactly the record
    classes flagged for it (torch's Adadelta only in optim_mlir.torch,
    MindSpore's PowerSign, ProximalGradientDescent and AdagradDA only in
    optim_mlir.nn), and every flagged record has at least one."""
    specs = _optim.rule_specs()
    assert specs["torch_adadelta"]["gen_torch_class"]
    assert not specs["torch_adadelta"]["gen_nn_class"]
    for rule in ("power_sign", "proximal_gradient_descent", "adagrad_da"):
        assert specs[rule]["gen_nn_class"]
        assert not specs[rule]["gen_torch_class"]
    for rule, spec in specs.items():
        if not spec["gen_python_classes"]:
            assert not spec["gen_nn_class"] and not spec["gen_torch_class"]
            continue
        assert spec["gen_nn_class"] or spec["gen_torch_class"], rule
        name = spec["class_name"]
        assert (name in otorch.__all__) == spec["gen_torch_class"], rule
        if not spec["gen_torch_class"]:
            assert not hasattr(otorch, name), rule
        if spec["gen_nn_class"]:
            assert name in nn.__all__, rule
