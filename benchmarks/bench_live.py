"""Live recognition speed on a 1280×720 video, headless: detection + classification + drawing.

    python benchmarks/bench_live.py [--frames 150] [--model PATH] [--tta none crops]

Composes videos of one and of three real faces (scikit-image's astronaut) moving over a changing
background, then runs ``fer_app.live`` on each with several detector settings and reports frames per second,
and how well each setting's boxes agree with YuNet on every frame at 640 px (mean IoU, faces found), so speed
is never bought with missed faces unnoticed.  The FPS counts everything: decoding, detection,
classification, tracking, drawing and the JSONL.
"""
import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from fer_app import live  # noqa: E402
from fer_app.classifier import DEFAULT_TTA, TTA_NAMES  # noqa: E402
from fer_app.track import iou  # noqa: E402

SETTINGS = [  # label, extra live arguments
    ("yunet every frame @640", ["--detector", "yunet", "--detect-every", "1", "--detect-width", "640"]),
    ("yunet every 2nd @320", ["--detector", "yunet", "--detect-every", "2"]),
    ("yunet every frame @320", ["--detector", "yunet", "--detect-every", "1"]),
    ("haar every frame @640", ["--detector", "haar", "--detect-every", "1"]),
    ("haar every 2nd @640", ["--detector", "haar", "--detect-every", "2"]),
]
REFERENCE = "yunet every frame @640"
PLACES = [(100, 150), (800, 300), (450, 420)]        # where the faces start


def compose(path, frames, faces):
    from skimage.data import astronaut
    head = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)[30:230, 120:330]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 30, (1280, 720))
    rng = np.random.default_rng(0)
    for t in range(frames):
        frame = np.full((720, 1280, 3), 60 + (t % 60), np.uint8) + rng.integers(0, 15, (720, 1280, 3), dtype=np.uint8)
        for k, (x0, y0) in enumerate(PLACES[:faces]):
            x, y = x0 + 3 * t * (1 - 2 * (k % 2)), y0 + int(40 * np.sin(t / 10 + k))
            frame[y:y + head.shape[0], x:x + head.shape[1]] = head
        writer.write(frame)
    writer.release()


def boxes_per_frame(jsonl):
    return [[f["box"] for f in json.loads(line)["faces"]] for line in open(jsonl)]


def agreement(reference, boxes):
    ious, found = [], 0
    for ref, got in zip(reference, boxes):
        for r in ref:
            best = max((iou(r, g) for g in got), default=0.0)
            ious.append(best)
            found += best > 0.5
    total = sum(len(r) for r in reference)
    return float(np.mean(ious)) if ious else 0.0, found / max(total, 1)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=150)
    p.add_argument("--model", help="model file (default: the shipped one)")
    p.add_argument("--tta", nargs="+", choices=TTA_NAMES, default=[DEFAULT_TTA],
                   help="test-time views, each measured in turn (default: live's default, %(default)s)")
    args = p.parse_args()
    model = ["--model", args.model] if args.model else []
    with tempfile.TemporaryDirectory() as tmp:
        for faces in (1, 3):
            video = os.path.join(tmp, f"in{faces}.mp4")
            compose(video, args.frames, faces)
            for tta in args.tta:
                print(f"\n{args.frames} frames of 1280x720, {faces} face(s), --tta {tta}; {os.cpu_count()} cores")
                print(f"{'setting':<26}{'FPS':>7}{'mean IoU vs ' + REFERENCE:>36}{'faces found':>13}")
                results = {}
                for label, extra in SETTINGS:
                    log = os.path.join(tmp, f"{faces}-{tta}-{len(results)}.jsonl")
                    start = time.perf_counter()
                    live.main(["--source", video, "--no-display", "--jsonl", log, "--tta", tta] + model + extra)
                    results[label] = (args.frames / (time.perf_counter() - start), boxes_per_frame(log))
                reference = results[REFERENCE][1]
                for label, (fps, boxes) in results.items():
                    mean_iou, found = agreement(reference, boxes)
                    print(f"{label:<26}{fps:>7.1f}{mean_iou:>36.3f}{100 * found:>12.1f}%")


if __name__ == "__main__":
    main()
