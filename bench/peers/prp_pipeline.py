"""The PRP data pipeline as the reference code runs it: a PyTorch DataLoader (2 worker processes) whose dataset reads
each sample with OpenCV — seek to a random start, read the 16·s-frame span of a random rate s ∈ {1, 2, 4, 8}, resize
to 171×128, centre-crop 112 — then builds the encoder clip (every s-th frame), the 32-frame slow-motion target and
the DPAU motion map (METHODS.md §1), and batches 8. Prints clips/s as JSON.
Usage: python3 prp_pipeline.py LIST.json SAMPLES   (LIST.json: a list of video paths)"""
import json, random, sys, time
import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

RATES = [1, 2, 4, 8]


def motion(dense, s):
    x = torch.from_numpy(dense).float().div(255).permute(3, 0, 1, 2)
    maps = []
    for k in range(s):
        f = x[:, 16 * k: 16 * k + 16][:, [0, 5, 10, 15]]
        d = (f[:, 1:] - f[:, :-1]) ** 2
        pooled = F.avg_pool3d(d.unsqueeze(0), kernel_size=(3, 28, 28), stride=(1, 7, 7))[0, :, 0]
        mins = pooled.amin(dim=(1, 2), keepdim=True)
        maxs = pooled.amax(dim=(1, 2), keepdim=True)
        norm = torch.ones_like(pooled) if bool(((maxs - mins) <= 0).all()) else 0.8 + 1.2 * (pooled - mins + 1e-6) / (maxs - mins + 1e-6)
        maps.append(F.interpolate(norm.unsqueeze(0).unsqueeze(2), size=(32 // s, 112, 112), mode="trilinear", align_corners=False)[0])
    return torch.cat(maps, dim=1)


def target(dense, s):
    x = torch.from_numpy(dense).float().div(255)
    if s == 1:
        out = []
        for k in range(16):
            out.append(x[k])
            out.append(x[k] if k == 15 else (x[k] + x[k + 1]) / 2)
        return torch.stack(out)
    return x[[k * s // 2 for k in range(32)]]


class Videos(Dataset):
    def __init__(self, paths, samples):
        self.paths, self.samples = paths, samples

    def __len__(self):
        return self.samples

    def __getitem__(self, i):
        torch.set_num_threads(1)
        cv2.setNumThreads(1)
        rng = random.Random(i)
        path = self.paths[i % len(self.paths)]
        cap = cv2.VideoCapture(path)
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        label = rng.randrange(len(RATES))
        s = RATES[label]
        start = rng.randint(0, total - 16 * s)
        cap.set(cv2.CAP_PROP_POS_FRAMES, start)
        frames = []
        for _ in range(16 * s):
            ok, frame = cap.read()
            assert ok
            frame = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), (171, 128), interpolation=cv2.INTER_LINEAR)
            frames.append(frame[8:120, 29:141])
        cap.release()
        dense = np.stack(frames)
        clip = torch.from_numpy(dense[::s].copy()).float().div(255)
        return clip, target(dense, s), motion(dense, s), label


paths, samples = json.load(open(sys.argv[1])), int(sys.argv[2])
loader = DataLoader(Videos(paths, samples + 8), batch_size=8, num_workers=2, shuffle=False)
it = iter(loader)
next(it)  # warm-up batch (worker start)
start = time.perf_counter()
count = 0
for clip, tgt, mot, label in it:
    count += clip.shape[0]
elapsed = time.perf_counter() - start
print(json.dumps({"clips_per_s": count / elapsed, "clips": count}))
