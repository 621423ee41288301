"""Accuracy of models on faces changed the way live video changes them: turned, nearer or farther, moved,
darker, flatter, far from the camera (few pixels), blurred, noisy, compressed — one table, one view a face.

    python benchmarks/bench_robustness.py --data ../shared/data/fer2013 --models A.npz B.npz [--labels fer2013 ferplus]

Each change is applied to every face of the split (uint8, 48×48) before the model's own preprocessing; a
far face is shrunk to 16 or 24 pixels and enlarged back as live enlarges a small detector crop
(fer_app.augment.low_resolution, what ``fer_app.train --lowres`` trains on).  Noise is seeded, so two runs print the same table.
"""
import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from fer_app.augment import affine, jpeg_compressed, low_resolution  # noqa: E402
from fer_app.classifier import ExpressionClassifier  # noqa: E402
from fer_app.data import LABEL_SOURCES, NO_FER2013, default_data, load_dataset  # noqa: E402
from fer_app.demo import demo_splits  # noqa: E402
from fer_app.labels import CLASSES  # noqa: E402


def warp(faces, angle=0.0, scale=1.0, shift=(0, 0)):
    return np.stack([affine(f, angle, scale, shift) for f in faces])


def levels(faces, gain, offset=0.0):
    return np.clip(faces * gain + offset, 0, 255).astype(np.uint8)


CHANGES = {
    "none": lambda f: f,
    "turned +12°": lambda f: warp(f, 12),
    "turned −12°": lambda f: warp(f, -12),
    "smaller (×0.85)": lambda f: warp(f, scale=0.85),
    "larger (×1.15)": lambda f: warp(f, scale=1.15),
    "moved 4 px": lambda f: warp(f, shift=(4, 4)),
    "darker (×0.5)": lambda f: levels(f, 0.5),
    "flat (contrast ×0.5)": lambda f: levels(f, 0.5, 64),
    "gamma 2": lambda f: (255 * (f / 255.0) ** 2).astype(np.uint8),
    "far: 24 px": lambda f: np.stack([low_resolution(x, 24) for x in f]),
    "far: 16 px": lambda f: np.stack([low_resolution(x, 16) for x in f]),
    "blurred (σ 1.5 px)": lambda f: np.stack([cv2.GaussianBlur(x, (0, 0), 1.5) for x in f]),
    "noise (σ 12)": lambda f: levels(f + np.random.default_rng(0).normal(0, 12, f.shape), 1.0),
    "JPEG quality 25": lambda f: np.stack([jpeg_compressed(x, 25) for x in f]),
    "far (24 px) + JPEG 40": lambda f: np.stack([jpeg_compressed(low_resolution(x, 24), 40) for x in f]),
}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=default_data(), help="dataset path, as for fer_app.train, or 'demo' (default: "
                                                          "$FER2013_DIR, else data/fer2013)")
    p.add_argument("--split", default="val", help="which split (default: val, FER-2013's PublicTest)")
    p.add_argument("--models", nargs="+", required=True, help="model files")
    p.add_argument("--labels", nargs="+", choices=LABEL_SOURCES, default=["fer2013"],
                   help="score against the dataset's own labels and/or FER+'s crowd majority, each a column per "
                        "model (default: fer2013)")
    args = p.parse_args()
    if args.data is None:
        p.error(f"{NO_FER2013}: give --data PATH (or demo)")
    if args.data == "demo" and args.labels != ["fer2013"]:
        p.error("--labels ferplus: the demo faces have no crowd votes (FER-2013 only)")

    if args.data == "demo":
        faces, labels = demo_splits()[args.split]
        scored = {"fer2013": (np.arange(len(labels)), labels)}
    else:        # the faces of the split, and for each label set the faces it keeps and their labels
        split = load_dataset(args.data)[args.split]
        faces, row = split[0], {key: i for i, key in enumerate(split.keys)}
        scored = {}
        for source in args.labels:
            kept = split if source == "fer2013" else load_dataset(args.data, labels=source)[args.split]
            scored[source] = (np.array([row[key] for key in kept.keys]), kept[1])
    classifiers = [ExpressionClassifier(path) for path in args.models]
    print(f"{args.split} split: accuracy %, one view; "
          + "; ".join(f"{source} labels on {len(y)} faces" for source, (_, y) in scored.items()) + "\n")
    columns = [f"{Path(path).name}{f' ({source})' if len(scored) > 1 else ''}" for path in args.models
               for source in scored]
    print("| change | " + " | ".join(columns) + " |")
    print("| --- |" + " --- |" * len(columns))
    for name, change in CHANGES.items():
        changed = change(faces)
        cells = []
        for c in classifiers:
            answers = c.predict_proba(changed, classes=CLASSES).argmax(1)
            cells += [f"{100 * (answers[index] == y).mean():.2f}" for index, y in scored.values()]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
