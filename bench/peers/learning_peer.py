"""Learning peer: does a task learn on a synthetic set, and how fast, in PyTorch? The encoder is clipflow's R3D-10
(stem 3×7×7 stride (1,2,2), one basic block per stage) at a width multiplier, on whole frames scaled to SIZE×SIZE with
OpenCV, batch 8, one thread. TASK=labels trains on the class labels (16 frames at stride 2; held-out accuracy on one
centre clip every 500 steps); TASK=rate trains PRP's playback-rate head alone (16 frames at stride 1, 2 or 4) and then
scores the frozen encoder against the same network at its initial weights: retrieval R@1/R@5 (cosine, test → train)
and a linear probe on the mean of 10 uniform clips. Compare its curves with clipflow's on the same videos: if PyTorch
cannot learn a task in N steps, neither can we.

TASK=region trains TSP's region head alone (action vs background) on an untrimmed set (DATA_DIR with annotations.csv
from `clipflow synth --kind untrimmed`, TEST_DIR beside it): 16 frames at 15 fps from a random segment at least one
clip long, then held-out balanced accuracy on the centre clip of every test segment.

Usage: TASK=labels|rate|region [WIDTH=0.125 SIZE=32 RATES=1,2,4 OPT=adam SEED=0 TEST_DIR=...] /usr/bin/python3 bench/peers/learning_peer.py DATA_DIR STEPS LR
"""
import os
import sys
import time

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(int(os.environ.get("THREADS", "1")))
root, steps, lr = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
task = os.environ.get("TASK", "labels")
width = float(os.environ.get("WIDTH", "0.125"))
size = int(os.environ.get("SIZE", "32"))
rates = [int(r) for r in os.environ.get("RATES", "1,2,4").split(",")]


def read_frames(path):
    capture = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), (size, size), interpolation=cv2.INTER_AREA))
    return np.stack(frames)


def load(listing):
    videos = []
    for line in open(os.path.join(root, listing)):
        path = line.split()[0]
        videos.append((read_frames(os.path.join(root, path)), path.split("/")[0]))
    return videos


def load_untrimmed(folder):
    import csv
    rows = list(csv.DictReader(open(os.path.join(folder, "annotations.csv"))))
    videos, segments = {}, []
    for row in rows:
        name = row["video-name"]
        if name not in videos:
            videos[name] = read_frames(os.path.join(folder, name))[::2]  # 30 → 15 fps
        first, last = round(float(row["t-start"]) * 15), round(float(row["t-end"]) * 15)
        if last - first >= 16:
            segments.append((videos[name], first, last, "Action" if row["region"] == "Action" else "Background"))
    return [(v[first:last], region) for v, first, last, region in segments]


if task == "region":
    train, test = load_untrimmed(root), load_untrimmed(os.environ["TEST_DIR"])
    rates = [1]
else:
    train, test = load("trainlist01.txt"), load("testlist01.txt")
classes = {c: i for i, c in enumerate(sorted({c for _, c in train}))}
scaled = lambda c: max(1, round(c * width))


def cbr(cin, cout, k, s, p):
    return nn.Sequential(nn.Conv3d(cin, cout, k, s, p, bias=False), nn.BatchNorm3d(cout), nn.ReLU(inplace=True))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1, self.b1 = nn.Conv3d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm3d(cout)
        self.c2, self.b2 = nn.Conv3d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm3d(cout)
        self.down = None if stride == 1 and cin == cout else nn.Sequential(nn.Conv3d(cin, cout, 1, stride, bias=False), nn.BatchNorm3d(cout))

    def forward(self, x):
        y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        return F.relu(y + (x if self.down is None else self.down(x)))


def r3d10():
    layers, cin = [cbr(3, scaled(64), (3, 7, 7), (1, 2, 2), (1, 3, 3))], scaled(64)
    for i, n in enumerate([64, 128, 256, 512]):
        layers.append(Block(cin, scaled(n), 1 if i == 0 else 2))
        cin = scaled(n)
    return nn.Sequential(*layers), cin


torch.manual_seed(int(os.environ.get("SEED", "0")))
encoder, channels = r3d10()
initial, _ = r3d10()
initial.load_state_dict(encoder.state_dict())
if task in ("labels", "region"):
    head = nn.Sequential(nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(channels, len(classes)))
else:  # PRP's rate head: conv + BN + ReLU, pool, linear
    head = nn.Sequential(cbr(channels, channels, 3, 1, 1), nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(channels, len(rates)))
params = list(encoder.parameters()) + list(head.parameters())
opt = torch.optim.Adam(params, lr=lr) if os.environ.get("OPT", "adam") == "adam" else torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=5e-4)
rng = np.random.default_rng(0)
batch = lambda clips: torch.tensor(np.stack(clips)).permute(0, 4, 1, 2, 3).float() / 255


def sample(video, cls):
    if task == "region":
        start = rng.integers(0, len(video) - 15)
        return video[start + np.arange(16)], classes[cls]
    if task == "labels":
        start = rng.integers(0, max(1, len(video) - 31))
        return video[np.minimum(start + 2 * np.arange(16), len(video) - 1)], classes[cls]
    r = int(rng.integers(0, len(rates)))
    while 16 * rates[r] > len(video):
        r -= 1
    start = rng.integers(0, len(video) - 16 * rates[r] + 1)
    return video[start + rates[r] * np.arange(16)], r


def held_out_accuracy():
    encoder.eval()
    right = 0
    with torch.no_grad():
        for video, cls in test:
            start = max(0, (len(video) - 32) // 2)
            right += int(head(encoder(batch([video[start + 2 * np.arange(16)]]))).argmax(1).item() == classes[cls])
    encoder.train()
    return right / len(test)


t0, losses, hits = time.time(), [], []
for step in range(1, steps + 1):
    drawn = [sample(*train[i]) for i in rng.integers(0, len(train), 8)]
    x, y = batch([c for c, _ in drawn]), torch.tensor([t for _, t in drawn])
    logits = head(encoder(x))
    loss = F.cross_entropy(logits, y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
    hits.append((logits.argmax(1) == y).float().mean().item())
    if step % 100 == 0:
        extra = f" held-out {100 * held_out_accuracy():.1f}%" if task == "labels" and step % 500 == 0 else ""
        print(f"step {step} ce {np.mean(losses[-100:]):.3f} train-acc {100 * np.mean(hits[-100:]):.0f}%{extra} {time.time() - t0:.0f}s", flush=True)


def features(model, videos):
    model.eval()
    with torch.no_grad():
        return torch.stack([model(batch([v[s + np.arange(16)] for s in np.linspace(0, len(v) - 16, 10).astype(int)])).mean((0, 2, 3, 4)) for v, _ in videos])


def score(model, name):
    ftr, fte = features(model, train), features(model, test)
    ytr = torch.tensor([classes[c] for _, c in train])
    yte = torch.tensor([classes[c] for _, c in test])
    nearest = (F.normalize(fte, dim=1) @ F.normalize(ftr, dim=1).T).topk(5, 1).indices
    r1 = (ytr[nearest[:, 0]] == yte).float().mean().item()
    r5 = (ytr[nearest] == yte[:, None]).any(1).float().mean().item()
    mu, sd = ftr.mean(0), ftr.std(0) + 1e-6
    probe = nn.Linear(ftr.shape[1], len(classes))
    o = torch.optim.Adam(probe.parameters(), 1e-2, weight_decay=1e-4)
    for _ in range(500):
        o.zero_grad()
        F.cross_entropy(probe((ftr - mu) / sd), ytr).backward()
        o.step()
    acc = (probe((fte - mu) / sd).argmax(1) == yte).float().mean().item()
    print(f"{name:12s} R@1 {100 * r1:.1f} R@5 {100 * r5:.1f} linear {100 * acc:.1f} ({len(test)} test videos)")


if task == "region":
    encoder.eval()
    with torch.no_grad():
        predicted = [head(encoder(batch([v[(len(v) - 16) // 2 + np.arange(16)]]))).argmax(1).item() for v, _ in test]
    truth = [classes[c] for _, c in test]
    recalls = [np.mean([p == t for p, t in zip(predicted, truth) if t == k]) for k in range(len(classes))]
    print(f"held-out region: balanced accuracy {100 * np.mean(recalls):.1f}% over {len(test)} segments (recalls {', '.join(f'{100 * r:.0f}%' for r in recalls)})")

if task == "rate":
    score(encoder, "rate")
    score(initial, "random-init")
