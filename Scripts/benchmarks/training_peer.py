"""PyTorch's side of the training benchmark: `steps` training steps (forward, backward, AdamW) of the
784-256-10 MLP at batch 256 or of the example's CNN at batch 64, on two threads; prints the seconds
per step (median of the timed steps after a warm-up) and the last loss."""
import statistics
import sys
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(2)
kind, steps = sys.argv[1], int(sys.argv[2])
g = torch.Generator().manual_seed(1)
if kind == "mlp":
    X, y = torch.rand(256, 784, generator=g), torch.randint(0, 10, (256,), generator=g)
    p = [torch.empty(784, 256).uniform_(-784 ** -0.5, 784 ** -0.5, generator=g), torch.zeros(256),
         torch.empty(256, 10).uniform_(-256 ** -0.5, 256 ** -0.5, generator=g), torch.zeros(10)]
    forward = lambda p, X: F.relu(X @ p[0] + p[1]) @ p[2] + p[3]
else:
    X, y = torch.rand(64, 1, 28, 28, generator=g), torch.randint(0, 10, (64,), generator=g)
    p = [torch.empty(16, 1, 3, 3).uniform_(-0.3, 0.3, generator=g), torch.zeros(16),
         torch.empty(32, 16, 3, 3).uniform_(-0.08, 0.08, generator=g), torch.zeros(32),
         torch.empty(800, 10).uniform_(-0.035, 0.035, generator=g), torch.zeros(10)]

    def forward(p, X):
        h = F.max_pool2d(F.relu(F.conv2d(X, p[0], p[1])), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, p[2], p[3])), 2)
        return h.reshape(h.shape[0], 800) @ p[4] + p[5]
for t in p:
    t.requires_grad_(True)
opt = torch.optim.AdamW(p, lr=1e-3, weight_decay=0.01)
times = []
for k in range(steps + 5):
    t0 = time.perf_counter()
    opt.zero_grad()
    loss = F.cross_entropy(forward(p, X), y)
    loss.backward()
    opt.step()
    if k >= 5:
        times.append(time.perf_counter() - t0)
print(statistics.median(times), f"loss {float(loss.detach()):.4f}")
