"""PyTorch peer for bench/trainStep.ts: PRP's train step (encoder + rate head + decoder, weighted MSE + 0.1 CE, SGD)
on the same architectures as clipflow (C3D-BN; R3D-10; R(2+1)D-10 with per-conv middle widths and torchvision's stem), at the
same width multiplier, batch and clip size. CPU, 2 threads (OpenBLAS/oneDNN as Debian ships them).

Usage: /usr/bin/python3 bench/peers/prp_train_step.py BACKBONE WIDTH BATCH SIZE STEPS  → one JSON line
"""
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from timing import report_steps

torch.set_num_threads(2)


def w(c, width):
    return max(1, round(c * width))


def cbr(cin, cout, k=3, s=1, p=1):
    return nn.Sequential(nn.Conv3d(cin, cout, k, s, p, bias=False), nn.BatchNorm3d(cout), nn.ReLU(inplace=True))


class C3D(nn.Module):
    def __init__(self, width):
        super().__init__()
        c = lambda n: w(n, width)
        self.net = nn.Sequential(
            cbr(3, c(64)), nn.MaxPool3d((1, 2, 2)), cbr(c(64), c(128)), nn.MaxPool3d(2),
            cbr(c(128), c(256)), cbr(c(256), c(256)), nn.MaxPool3d(2),
            cbr(c(256), c(512)), cbr(c(512), c(512)), nn.MaxPool3d(2),
            cbr(c(512), c(512)), cbr(c(512), c(512)))
        self.channels = c(512)

    def forward(self, x):
        return self.net(x)


def mid(cin, cout):
    return (27 * cin * cout) // (9 * cin + 3 * cout)


class Conv21(nn.Module):
    def __init__(self, cin, cout, s):
        super().__init__()
        m = mid(cin, cout)
        self.spatial = nn.Conv3d(cin, m, (1, 3, 3), (1, s, s), (0, 1, 1), bias=False)
        self.bn = nn.BatchNorm3d(m)
        self.temporal = nn.Conv3d(m, cout, (3, 1, 1), (s, 1, 1), (1, 0, 0), bias=False)

    def forward(self, x):
        return self.temporal(F.relu(self.bn(self.spatial(x))))


def conv3(cin, cout, s):
    return nn.Conv3d(cin, cout, 3, s, 1, bias=False)


class Block(nn.Module):
    def __init__(self, cin, cout, s, conv=Conv21):
        super().__init__()
        self.c1, self.b1 = conv(cin, cout, s), nn.BatchNorm3d(cout)
        self.c2, self.b2 = conv(cout, cout, 1), nn.BatchNorm3d(cout)
        self.down = None if s == 1 and cin == cout else nn.Sequential(nn.Conv3d(cin, cout, 1, s, bias=False), nn.BatchNorm3d(cout))

    def forward(self, x):
        y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        return F.relu(y + (x if self.down is None else self.down(x)))


class R21D(nn.Module):
    """R(2+1)D-10, or with `full3d` R3D-10 (3×7×7 stem, 3×3×3 convolutions in the blocks)."""

    def __init__(self, width, full3d=False):
        super().__init__()
        c = lambda n: w(n, width)
        if full3d:
            layers = [cbr(3, c(64), (3, 7, 7), (1, 2, 2), (1, 3, 3))]
        else:
            layers = [cbr(3, c(45), (1, 7, 7), (1, 2, 2), (0, 3, 3)), cbr(c(45), c(64), (3, 1, 1), 1, (1, 0, 0))]
        cin = c(64)
        for i, n in enumerate([64, 128, 256, 512]):
            layers.append(Block(cin, c(n), 1 if i == 0 else 2, conv3 if full3d else Conv21))
            cin = c(n)
        self.net = nn.Sequential(*layers)
        self.channels = c(512)

    def forward(self, x):
        return self.net(x)


class PRP(nn.Module):
    def __init__(self, backbone, width):
        super().__init__()
        self.encoder = C3D(width) if backbone == "c3d" else R21D(width, full3d=backbone == "r3d")
        c = self.encoder.channels
        self.cls_conv = cbr(c, c)
        self.fc = nn.Linear(c, 4)
        dec = [cbr(c, c)]
        for _ in range(3):
            dec += [nn.ConvTranspose3d(c, c, 2, 2), cbr(c, c // 2)]
            c //= 2
        dec += [nn.ConvTranspose3d(c, c, 2, 2), cbr(c, 3)]
        self.decoder = nn.Sequential(*dec)

    def forward(self, x):
        f = self.encoder(x)
        return self.fc(self.cls_conv(f).mean(dim=(2, 3, 4))), self.decoder(f)


def main():
    backbone, width, batch, size, steps = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    torch.manual_seed(0)
    model = PRP(backbone, width)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.rand(batch, 3, 16, size, size)
    y = torch.rand(batch, 3, 32, size, size)
    m = 0.8 + 1.2 * torch.rand(batch, 3, 32, size, size)
    flags = torch.tensor([1.0, 0.0] * 16)
    labels = torch.randint(0, 4, (batch,))

    def step():
        opt.zero_grad()
        logits, recon = model(x)
        err = (m * (recon - y) ** 2 * flags[None, None, :, None, None]).sum(dim=(1, 2, 3, 4)) / (flags.sum() * 3 * size * size)
        loss = err.mean() + 0.1 * F.cross_entropy(logits, labels)
        loss.backward()
        opt.step()

    report_steps(step, steps, batch)


main()
