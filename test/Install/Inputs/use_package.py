"""Imports an installed optim_mlir and runs one step of each front end.

Usage: python use_package.py ROOT -- fails unless the package was imported
from under ROOT (the install prefix or virtual environment), and unless
each step gives the values worked out by hand.
"""
import os
import sys

import numpy as np
import torch

import optim_mlir
import optim_mlir.torch as otorch
from optim_mlir import nn

root = os.path.realpath(sys.argv[1])
where = os.path.realpath(os.path.dirname(optim_mlir.__file__))
assert where.startswith(root + os.sep), f"imported {where}, not from {root}"
print("optim_mlir from", os.path.relpath(where, root))

w0 = np.array([1.0, 2.0, -3.0, 0.5], np.float32)
g = np.array([0.5, -1.0, 2.0, 0.0], np.float32)

# optim_mlir.nn.Momentum (MindSpore's): moments = 0.9 * 0 + g;
# w -= 0.1 * moments.
p = nn.Parameter(w0.copy(), name="w")
opt = nn.Momentum([p], learning_rate=0.1, momentum=0.9)
opt((g.copy(),))
want = np.array([0.95, 2.1, -3.2, 0.5], np.float32)
np.testing.assert_allclose(p.asnumpy(), want, rtol=0, atol=1e-6)
np.testing.assert_allclose(opt.moments[0].asnumpy(), g, rtol=0, atol=0)
print("nn.Momentum", p.asnumpy().tolist())

# optim_mlir.torch.SGD with torch's momentum and weight decay: the first
# step's buffer is d = g + 0.01 * w; w -= 0.1 * d.
t = torch.tensor(w0.copy(), requires_grad=True)
t.grad = torch.tensor(g.copy())
sgd = otorch.SGD([t], lr=0.1, momentum=0.9, weight_decay=0.01)
sgd.step()
d = g.astype(np.float64) + 0.01 * w0
want = (w0 - 0.1 * d).astype(np.float32)
np.testing.assert_allclose(t.detach().numpy(), want, rtol=0, atol=1e-6)
# ... and torch's own SGD agrees.
r = torch.tensor(w0.copy(), requires_grad=True)
r.grad = torch.tensor(g.copy())
torch.optim.SGD([r], lr=0.1, momentum=0.9, weight_decay=0.01).step()
np.testing.assert_allclose(t.detach().numpy(), r.detach().numpy(), rtol=0,
                           atol=1e-6)
print("torch.SGD", t.detach().numpy().tolist())
print("OK")
