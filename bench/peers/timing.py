"""Shared by the PyTorch train-step peers: one warm-up step, then `steps` timed ones; prints one JSON line with ms per
step and per clip, the peak RSS, the thread count and the torch version."""
import json
import resource
import time

import torch


def report_steps(step, steps, batch):
    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    ms = (time.perf_counter() - t0) * 1000 / steps
    print(json.dumps({"ms_per_step": ms, "ms_per_clip": ms / batch, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "threads": torch.get_num_threads(), "torch": torch.__version__}))
