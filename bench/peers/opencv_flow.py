"""OpenCV's flow methods on the pairs bench/flow.ts wrote, single-threaded: TV-L1 (DualTVL1OpticalFlow defaults,
CoCLR's reference), Farnebäck (0.5, 3, 15, 3, 5, 1.2) and DIS (medium preset). For each pair and method it writes the
flow (float32 u, v planes) next to the pair and prints the median time per pair as JSON.
Usage: python3 opencv_flow.py DIR  (DIR/pairs.json lists {name, width, height}; frames are NAME.i0/.i1 raw uint8)"""
import json, os, sys, time
import cv2
import numpy as np

cv2.setNumThreads(1)
root = sys.argv[1]
pairs = json.load(open(os.path.join(root, "pairs.json")))
methods = {
    "tvl1": lambda a, b: cv2.optflow.DualTVL1OpticalFlow_create().calc(a, b, None),
    "farneback": lambda a, b: cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0),
    "dis": lambda a, b: cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(a, b, None),
}
out = {}
for pair in pairs:
    w, h, name = pair["width"], pair["height"], pair["name"]
    a = np.fromfile(os.path.join(root, name + ".i0"), np.uint8).reshape(h, w)
    b = np.fromfile(os.path.join(root, name + ".i1"), np.uint8).reshape(h, w)
    for method, fn in methods.items():
        times = []
        for _ in range(3):
            start = time.perf_counter()
            flow = fn(a, b)
            times.append(time.perf_counter() - start)
        np.concatenate([flow[..., 0].ravel(), flow[..., 1].ravel()]).astype("<f4").tofile(os.path.join(root, f"{name}.{method}"))
        out[f"{name}/{method}"] = sorted(times)[1] * 1000
print(json.dumps(out))
