"""``optim_mlir.nn``'s checkpoints: ``save_checkpoint`` and
``load_checkpoint`` of an optimizer's state (docs/Python-nn.md)."""

import numpy as np

from ._nn_optimizer import Optimizer


def save_checkpoint(optimizer, ckpt_file_name):
    """Writes ``optimizer.state_dict()`` to a NumPy ``.npz`` file.

    Under the parallel optimizer every rank must call it: the states are
    gathered, rank 0 writes the whole checkpoint (the single-process
    format) and every rank returns once the file is complete."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError("save_checkpoint expects an Optimizer, got %s."
                        % type(optimizer).__name__)
    sd = optimizer.state_dict()
    plan = optimizer._dist
    if plan is not None and plan.sharded:
        if plan.rank == 0:
            _write(sd, ckpt_file_name)
        plan.comm.barrier()
        return
    _write(sd, ckpt_file_name)


def _write(sd, ckpt_file_name):
    flat = {"meta/format": np.array(sd["format"]),
            "meta/optimizer": np.array(sd["optimizer"]),
            "meta/global_step": np.array(sd["global_step"], np.int64)}
    for k, v in sd["parameters"].items():
        flat["param/" + k] = v
    for state, entries in sd["states"].items():
        for k, v in entries.items():
            flat["state/%s/%s" % (state, k)] = v
    for k, v in sd["learning_rate"].items():
        flat["lr/" + k] = np.array(v, np.float64)
    for k, v in sd["weight_decay"].items():
        flat["wd/" + k] = np.array(v, np.float64)
    for k, v in sd["hyper_params"].items():
        flat["hyper/" + k] = np.array(v, np.float64)
    if "loss_scale" in sd:
        scale = sd["loss_scale"]
        flat["amp/loss_scale"] = np.array(scale["loss_scale"], np.float64)
        flat["amp/good_steps"] = np.array(scale["good_steps"], np.int64)
        flat["amp/cur_iter"] = np.array(scale["cur_iter"], np.int64)
    with open(ckpt_file_name, "wb") as f:
        np.savez(f, **flat)


def load_checkpoint(ckpt_file_name, optimizer=None):
    """Reads a file written by ``save_checkpoint`` and returns its state dict;
    with ``optimizer``, also loads it (``optimizer.load_state_dict``)."""
    sd = {"parameters": {}, "states": {}, "learning_rate": {},
          "weight_decay": {}, "hyper_params": {}}
    with np.load(ckpt_file_name, allow_pickle=False) as data:
        for key in data.files:
            kind, _, rest = key.partition("/")
            value = data[key]
            if kind == "meta":
                if rest == "global_step":
                    sd["global_step"] = int(value)
                else:
                    sd[rest] = str(value)
            elif kind == "param":
                sd["parameters"][rest] = value
            elif kind == "state":
                state, _, pname = rest.partition("/")
                sd["states"].setdefault(state, {})[pname] = value
            elif kind == "lr":
                sd["learning_rate"][rest] = float(value)
            elif kind == "wd":
                sd["weight_decay"][rest] = float(value)
            elif kind == "hyper":
                sd["hyper_params"][rest] = float(value)
            elif kind == "amp":
                # The dynamic loss scale (DynamicLossScaleUpdateCell).
                sd.setdefault("loss_scale", {})[rest] = \
                    float(value) if rest == "loss_scale" else int(value)
            else:
                raise ValueError("%s is not an optim_mlir.nn checkpoint "
                                 "(unknown key %r)" % (ckpt_file_name, key))
    if optimizer is not None:
        optimizer.load_state_dict(sd)
    return sd
