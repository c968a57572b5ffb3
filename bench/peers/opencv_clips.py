"""The reference implementations' way of reading a clip: OpenCV VideoCapture from frame 0 up to the clip, then
resize. Prints clips/s as JSON. Usage: python3 opencv_clips.py FILE CLIPS FRAMES STRIDE SEED"""
import json, random, sys, time
import cv2

path, clips, frames, stride, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
cv2.setNumThreads(1)
cap = cv2.VideoCapture(path)
total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
cap.release()
rng = random.Random(seed)
span = (frames - 1) * stride + 1
start_time = time.perf_counter()
for _ in range(clips):
    start = rng.randint(0, total - span)
    cap = cv2.VideoCapture(path)
    out = []
    for index in range(start + span):
        ok, frame = cap.read()
        if not ok:
            break
        if index >= start and (index - start) % stride == 0:
            out.append(cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), (112, 112), interpolation=cv2.INTER_LINEAR))
    cap.release()
    assert len(out) == frames, len(out)
elapsed = time.perf_counter() - start_time
print(json.dumps({"clips_per_s": clips / elapsed}))
