"""Learning peer: does a task learn on a synthetic set, and how fast, in PyTorch? The encoder is clipflow's R3D-10
(stem 3×7×7 stride (1,2,2), one basic block per stage) at a width multiplier, on whole frames scaled to SIZE×SIZE with
OpenCV, batch 8, one thread. TASK=labels trains on the class labels (16 frames at stride 2; held-out accuracy on one
centre clip every 500 steps); TASK=rate trains PRP's playback-rate head alone (16 frames at stride 1, 2 or 4) and then
scores the frozen encoder against the same network at its initial weights: retrieval R@1/R@5 (cosine, test → train)
and a linear probe on the mean of 10 uniform clips. Compare its curves with clipflow's on the same videos: if PyTorch
cannot learn a task in N steps, neither can we.

TASK=prp trains PRP's whole pretext: the rate head and the transposed-convolution decoder that reconstructs the
32-frame slow-motion target of the span (real frames flagged, DPAU weights in [0.8, 2]), loss RECON·weighted MSE +
CE·cross-entropy (defaults 1 and 0.1). Augmentation for TASK=rate|prp: SRC=N scales frames to N×N and trains on random
SIZE crops (scored on centre crops); JITTER=1 draws a colour jitter per clip (hue rotation about the grey axis, then
saturation, contrast, brightness factors in 0.6–1.4), the same for the clip and its target. TEST_CSV=manifest (path,label
with the 0-based class index) scores on those videos instead of testlist01; INITS=N also scores N random initialisations
(seeds 0..N−1); both mean- and max-pooled features are scored. INIT=kaiming initialises every convolution like
torchvision (normal, √(2/fan-out)) instead of PyTorch's default; SAVE=file.pt writes the trained encoder; LOAD=RUN puts a
clipflow checkpoint's backbone (a run directory or one checkpoint) into the encoder, so that STEPS=0 scores clipflow's
weights with this script's features. WD=x gives Adam that (coupled, L2) weight decay; default 0.

TASK=region trains TSP's region head alone (action vs background) on an untrimmed set (DATA_DIR with annotations.csv
from `clipflow synth --kind untrimmed`, TEST_DIR beside it): 16 frames at 15 fps from a random segment at least one
clip long, then held-out balanced accuracy on the centre clip of every test segment.

Usage: TASK=labels|rate|prp|region [WIDTH=0.125 SIZE=32 RATES=1,2,4 OPT=adam SEED=0 SRC=37 JITTER=1 TEST_CSV=... INITS=3 INIT=kaiming WD=5e-4 SAVE=... LOAD=... TEST_DIR=...] /usr/bin/python3 bench/peers/learning_peer.py DATA_DIR STEPS LR
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
source = int(os.environ.get("SRC", str(size)))
jitter = os.environ.get("JITTER", "0") == "1"
recon_weight, ce_weight = float(os.environ.get("RECON", "1")), float(os.environ.get("CE", "0.1" if task == "prp" else "1"))


def read_frames(path, side=size):
    capture = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), (side, side), interpolation=cv2.INTER_AREA))
    return np.stack(frames)


def load(listing):
    videos = []
    for line in open(os.path.join(root, listing)):
        path = line.split()[0]
        videos.append((read_frames(os.path.join(root, path), source), path.split("/")[0]))
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
if os.environ.get("TEST_CSV"):
    import csv
    names = {int(line.split()[0]) - 1: line.split()[1] for line in open(os.path.join(root, "classInd.txt"))}
    test = [(read_frames(row["path"], source), names[int(row["label"])]) for row in csv.DictReader(open(os.environ["TEST_CSV"]))]
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


def kaiming(model):
    """clipflow's (and torchvision's) convolution init: normal, std √(2 / fan-out); PyTorch's default is U(±1/√fan-in)."""
    for m in model.modules():
        if isinstance(m, nn.Conv3d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return model


def load_clipflow(model, run):
    """A clipflow checkpoint's backbone (and BN statistics) into the peer's R3D-10: conv weights [kh,kw,kt,in,out] →
    [out,in,kt,kh,kw]. RUN is a run directory (its latest checkpoint) or one checkpoint directory."""
    import json
    if os.path.exists(os.path.join(run, "checkpoints", "latest.json")):
        run = os.path.join(run, "checkpoints", json.load(open(os.path.join(run, "checkpoints", "latest.json")))["checkpoint"])
    meta = json.load(open(os.path.join(run, "state.json")))
    floats = np.fromfile(os.path.join(run, "tensors.bin"), dtype="<f4")
    stored = {t["name"]: floats[t["offset"]:t["offset"] + t["length"]].reshape(t["shape"]) for t in meta["tensors"]}
    names = {"0.0": "stem.conv", "0.1": "stem.bn"}
    for i in range(1, 5):
        for ours, theirs in [("c1", "conv1"), ("b1", "bn1"), ("c2", "conv2"), ("b2", "bn2"), ("down.0", "downsample.conv"), ("down.1", "downsample.bn")]:
            names[f"{i}.{ours}"] = f"layer{i}.0.{theirs}"
    state = {}
    for key, value in model.state_dict().items():
        module, field = key.rsplit(".", 1)
        if field == "num_batches_tracked":
            state[key] = value
            continue
        array = stored[f"model/backbone.{names[module]}.{field}"]
        state[key] = torch.tensor(array.transpose(4, 3, 2, 0, 1) if array.ndim == 5 else array).contiguous()
    model.load_state_dict(state)
    return model


init = kaiming if os.environ.get("INIT") == "kaiming" else lambda model: model
torch.manual_seed(int(os.environ.get("SEED", "0")))
encoder, channels = r3d10()
init(encoder)
if os.environ.get("LOAD"):
    load_clipflow(encoder, os.environ["LOAD"])
initial, _ = r3d10()
initial.load_state_dict(encoder.state_dict())
if task in ("labels", "region"):
    head = nn.Sequential(nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(channels, len(classes)))
else:  # PRP's rate head: conv + BN + ReLU, pool, linear
    head = nn.Sequential(cbr(channels, channels, 3, 1, 1), nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(channels, len(rates)))
params = list(encoder.parameters()) + list(head.parameters())
if task == "prp":  # PRP's decoder: conv, 3 × [transposed conv ×2, conv halving the width], transposed conv, conv to RGB
    layers, c = [cbr(channels, channels, 3, 1, 1)], channels
    for _ in range(3):
        layers += [nn.ConvTranspose3d(c, c, 2, 2), cbr(c, max(1, c // 2), 3, 1, 1)]
        c = max(1, c // 2)
    decoder = nn.Sequential(*layers, nn.ConvTranspose3d(c, c, 2, 2), cbr(c, 3, 3, 1, 1))
    params += list(init(decoder).parameters())
init(head)
opt = torch.optim.Adam(params, lr=lr, weight_decay=float(os.environ.get("WD", "0"))) if os.environ.get("OPT", "adam") == "adam" else torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=5e-4)
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
    while 16 * rates[r] + 1 > len(video):
        r -= 1
    s = rates[r]
    start = rng.integers(0, len(video) - 16 * s)
    x, y = rng.integers(0, source - size + 1, 2)
    span = video[start:start + 16 * s + 1, y:y + size, x:x + size]
    if task == "rate":
        return span[s * np.arange(16)], r
    if s == 1:  # PRP's slow-motion target: real frames interleaved with averages, only the real ones flagged
        real = span.astype(np.float32)
        target = np.repeat(real[:16], 2, axis=0)
        target[1::2] = (real[:16] + real[1:17]) / 2
        target[31] = real[15]
        flags = np.tile([1.0, 0.0], 16)
    else:
        target, flags = span[(s // 2) * np.arange(32)].astype(np.float32), np.ones(32)
    return span[s * np.arange(16)], r, target, flags


def colour(clip):
    """One colour jitter for a clip (C×T×H×W in [0, 1]): hue rotation about the grey axis, saturation, contrast, brightness."""
    a, k = rng.uniform(-np.pi, np.pi), np.ones(3) / np.sqrt(3)
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    rotation = torch.tensor(np.eye(3) + np.sin(a) * cross + (1 - np.cos(a)) * cross @ cross, dtype=torch.float32)
    clip = torch.einsum("ij,jthw->ithw", rotation, clip)
    grey = clip.mean(0, keepdim=True)
    clip = grey + (clip - grey) * rng.uniform(0.6, 1.4)
    mean = clip.mean()
    clip = mean + (clip - mean) * rng.uniform(0.6, 1.4)
    return (clip * rng.uniform(0.6, 1.4)).clamp(0, 1)


def dpau(target):
    """PRP's motion weight for a 3×32×H×W target, an approximation in time: per 16 target frames (clipflow, like the
    reference, chunks the dense span), frames 0/5/10/15, squared differences pooled (window and stride scaled from 28
    and 7 at 112 px), min-max per channel to [0.8, 2], constant within the chunk."""
    window, stride = max(1, round(28 * size / 112)), max(1, round(7 * size / 112))
    chunks = []
    for k in range(0, target.shape[1], 16):
        picks = target[:, k + np.array([0, 5, 10, 15])]
        diffs = (picks[:, 1:] - picks[:, :-1]) ** 2
        pooled = F.avg_pool3d(diffs[None], (3, window, window), (1, stride, stride))[0, :, 0]
        low, high = pooled.amin((1, 2), keepdim=True), pooled.amax((1, 2), keepdim=True)
        weight = torch.ones_like(pooled) if (high - low).max() <= 0 else 0.8 + 1.2 * (pooled - low + 1e-6) / (high - low + 1e-6)
        chunks.append(F.interpolate(weight[None, :, None], size=(min(16, target.shape[1] - k), size, size), mode="trilinear", align_corners=False)[0])
    return torch.cat(chunks, 1)


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
recons = []
for step in range(1, steps + 1):
    drawn = [sample(*train[i]) for i in rng.integers(0, len(train), 8)]
    x, y = batch([d[0] for d in drawn]), torch.tensor([d[1] for d in drawn])
    if task == "prp":
        target = torch.tensor(np.stack([d[2] for d in drawn])).permute(0, 4, 1, 2, 3) / 255
        if jitter:
            jittered = [colour(torch.cat([x[b], target[b]], 1)) for b in range(len(drawn))]
            x, target = torch.stack([j[:, :16] for j in jittered]), torch.stack([j[:, 16:] for j in jittered])
    elif jitter:
        x = torch.stack([colour(clip) for clip in x])
    features_ = encoder(x)
    logits = head(features_)
    cross_entropy = F.cross_entropy(logits, y)
    loss = ce_weight * cross_entropy
    if task == "prp":
        flags = torch.tensor(np.stack([d[3] for d in drawn]), dtype=torch.float32)[:, None, :, None, None]
        weighted = torch.stack([dpau(t) for t in target]) * (decoder(features_) - target) ** 2 * flags
        reconstruction = (weighted.sum((1, 2, 3, 4)) / (flags.sum((1, 2, 3, 4)) * 3 * size * size)).mean()
        recons.append(reconstruction.item())
        loss = loss + recon_weight * reconstruction
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(cross_entropy.item())
    hits.append((logits.argmax(1) == y).float().mean().item())
    if step % 100 == 0:
        extra = f" held-out {100 * held_out_accuracy():.1f}%" if task == "labels" and step % 500 == 0 else ""
        extra += f" reconstruction {np.mean(recons[-100:]):.4f}" if recons else ""
        print(f"step {step} ce {np.mean(losses[-100:]):.3f} train-acc {100 * np.mean(hits[-100:]):.0f}%{extra} {time.time() - t0:.0f}s", flush=True)


def features(model, videos):
    """10 uniform clips per video (centre SIZE crop), the last feature map mean- and max-pooled over space-time, each
    averaged over the clips: one forward pass for both."""
    model.eval()
    o = (source - size) // 2
    means, maxes = [], []
    with torch.no_grad():
        for v, _ in videos:
            maps = model(batch([v[s + np.arange(16), o:o + size, o:o + size] for s in np.linspace(0, len(v) - 16, 10).astype(int)]))
            means.append(maps.mean((2, 3, 4)).mean(0))
            maxes.append(maps.amax((2, 3, 4)).mean(0))
    return torch.stack(means), torch.stack(maxes)


def score(model, name):
    (train_mean, train_max), (test_mean, test_max) = features(model, train), features(model, test)
    score_features(train_mean, test_mean, f"{name} mean")
    score_features(train_max, test_max, f"{name} max")


def score_features(ftr, fte, name):
    ytr = torch.tensor([classes[c] for _, c in train])
    yte = torch.tensor([classes[c] for _, c in test])
    nearest = (F.normalize(fte, dim=1) @ F.normalize(ftr, dim=1).T).topk(5, 1).indices
    r1 = (ytr[nearest[:, 0]] == yte).float().mean().item()
    r5 = (ytr[nearest] == yte[:, None]).any(1).float().mean().item()
    mu, sd = ftr.mean(0), ftr.std(0) + 1e-6
    torch.manual_seed(0)
    probe = nn.Linear(ftr.shape[1], len(classes))
    o = torch.optim.Adam(probe.parameters(), 1e-2, weight_decay=1e-4)
    for _ in range(500):
        o.zero_grad()
        F.cross_entropy(probe((ftr - mu) / sd), ytr).backward()
        o.step()
    acc = (probe((fte - mu) / sd).argmax(1) == yte).float().mean().item()
    print(f"{name:16s} R@1 {100 * r1:.1f} R@5 {100 * r5:.1f} linear {100 * acc:.1f} ({len(test)} test videos)")


if os.environ.get("SAVE"):
    torch.save(encoder.state_dict(), os.environ["SAVE"])

if task == "region":
    encoder.eval()
    with torch.no_grad():
        predicted = [head(encoder(batch([v[(len(v) - 16) // 2 + np.arange(16)]]))).argmax(1).item() for v, _ in test]
    truth = [classes[c] for _, c in test]
    recalls = [np.mean([p == t for p, t in zip(predicted, truth) if t == k]) for k in range(len(classes))]
    print(f"held-out region: balanced accuracy {100 * np.mean(recalls):.1f}% over {len(test)} segments (recalls {', '.join(f'{100 * r:.0f}%' for r in recalls)})")

if task in ("rate", "prp"):
    score(encoder, "clipflow" if os.environ.get("LOAD") else task)
    if not os.environ.get("LOAD"):
        score(initial, "initial")
    for seed in range(int(os.environ.get("INITS", "0"))):
        torch.manual_seed(seed)
        score(init(r3d10()[0]), f"init-seed{seed}")
