"""The Python layer's rule and schedule knowledge comes from the extension,
which carries the tables generated from the rule records (OptimRules.td) and
the attribute definitions (OptimAttrs.td): nothing is mirrored by hand."""

import numpy as np
import pytest

from optim_mlir import _optim, ir, nn


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
