"""PyTorch peer for bench/contrastStep.ts: CoCLR's stage-1 step (InfoNCE, MoCo style) with the S3D backbone: query
encoder (S3D → pool → MLP head → L2) on one view with gradient, EMA key encoder on the other, logits against a queue
of 2048 keys at τ 0.07, Adam (lr 1e-3, wd 1e-5), then the EMA update and the enqueue. S3D as in
test/fixtures/scripts/s3d_reference.py (CoCLR's s3dg.py without gating), at the same width as clipflow's.
CPU, 2 threads.

Usage: /usr/bin/python3 bench/peers/coclr_train_step.py WIDTH BATCH FRAMES SIZE STEPS  → one JSON line
"""
import copy
import importlib.util
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from timing import report_steps

torch.set_num_threads(2)
spec = importlib.util.spec_from_file_location("s3d_reference", os.path.join(os.path.dirname(__file__), "..", "..", "test", "fixtures", "scripts", "s3d_reference.py"))
# the reference script prints its fixture when run as a module: load only its definitions
source = open(spec.origin).read().split("\nmodels = []")[0]
namespace = {}
exec(compile(source, spec.origin, "exec"), namespace)


class Encoder(nn.Module):
    def __init__(self, width, dim=128):
        super().__init__()
        self.backbone = namespace["s3d"](width)
        channels = max(1, round(384 * width)) + max(1, round(384 * width)) + max(1, round(128 * width)) + max(1, round(128 * width))
        hidden = channels
        self.head = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, dim))

    def forward(self, x):
        return F.normalize(self.head(self.backbone(x).mean(dim=(2, 3, 4))), dim=1)


def main():
    width, batch, frames, size, steps = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    torch.manual_seed(0)
    query = Encoder(width)
    key = copy.deepcopy(query)
    for p in key.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam(query.parameters(), lr=1e-3, weight_decay=1e-5)
    queue = F.normalize(torch.randn(2048, 128), dim=1)
    a = torch.rand(batch, 3, frames, size, size)
    b = torch.rand(batch, 3, frames, size, size)

    def step():
        nonlocal queue
        opt.zero_grad()
        q = query(a)
        with torch.no_grad():
            k = key(b)
        logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.t()], 1) / 0.07
        loss = F.cross_entropy(logits, torch.zeros(batch, dtype=torch.long))
        loss.backward()
        opt.step()
        with torch.no_grad():
            for pk, pq in zip(key.parameters(), query.parameters()):
                pk.mul_(0.999).add_(pq, alpha=0.001)
        queue = torch.cat([k, queue[:-batch]], 0)

    report_steps(step, steps, batch)


main()
