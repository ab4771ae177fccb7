"""Reference trajectories for squeeze's training (Tests/TrainingTests): PyTorch trains a small MLP and a
small CNN for 100 steps from initial parameters, a batch order and hyper-parameters drawn here with numpy;
the test trains the same in a recipe (grad + optimizer) and compares the loss of every step and the final
parameters. Needs torch (the bench venv has it): .build-bench/venv/bin/python make_training_fixtures.py
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)
HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20261203)
STEPS = 100


def uniform(shape, fan):
    b = 1 / np.sqrt(fan)
    return rng.uniform(-b, b, size=shape).astype(np.float32)


def mlp_case():
    X = rng.standard_normal((64, 20)).astype(np.float32)
    y = rng.integers(0, 5, size=64)
    p = {"W1": uniform((20, 32), 20), "b1": uniform((32,), 20), "W2": uniform((32, 5), 32), "b2": uniform((5,), 32)}
    order = np.stack([rng.choice(64, 16, replace=False) for _ in range(STEPS)])

    def forward(t, Xb):
        return F.relu(Xb @ t["W1"] + t["b1"]) @ t["W2"] + t["b2"]

    return X, y, p, order, forward


def cnn_case():
    X = rng.standard_normal((32, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, size=32)
    p = {"c": uniform((4, 1, 3, 3), 9), "cb": uniform((4,), 9), "W": uniform((64, 3), 64), "b": uniform((3,), 64)}
    order = np.stack([rng.choice(32, 8, replace=False) for _ in range(STEPS)])

    def forward(t, Xb):
        h = F.max_pool2d(F.relu(F.conv2d(Xb, t["c"], t["cb"], padding=1)), 2)
        return h.reshape(h.shape[0], 64) @ t["W"] + t["b"]

    return X, y, p, order, forward


def run(case, make_opt):
    X, y, p, order, forward = case
    t = {k: torch.tensor(v, requires_grad=True) for k, v in p.items()}
    opt = make_opt(list(t.values()))
    Xt, yt = torch.tensor(X), torch.tensor(y)
    losses = []
    for k in range(STEPS):
        idx = torch.tensor(order[k])
        opt.zero_grad()
        loss = F.cross_entropy(forward(t, Xt[idx]), yt[idx])
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return {
        "X": X.ravel().tolist(), "X_shape": list(X.shape), "y": y.tolist(), "order": order.tolist(),
        "init": {k: {"shape": list(v.shape), "data": v.ravel().tolist()} for k, v in p.items()},
        "losses": losses,
        "final": {k: {"shape": list(v.shape), "data": v.detach().numpy().ravel().tolist()} for k, v in t.items()},
    }


mlp = mlp_case()
cnn = cnn_case()
out = {
    "torch": torch.__version__,
    "mlp_sgd": run(mlp, lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)),
    "mlp_adamw": run(mlp, lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.01)),
    "cnn_adam": run(cnn, lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=1e-3)),
    "cnn_sgd": run(cnn, lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9)),
}
with open(os.path.join(HERE, "training.json"), "w") as f:
    json.dump(out, f)
print({k: (v["losses"][0], v["losses"][-1]) for k, v in out.items() if k != "torch"})
