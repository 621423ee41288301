"""A small built-in dataset: procedurally drawn cartoon faces in FER-2013's 7 classes.

Each class has its own mouth, brow and eye shapes; pose, size, position, lighting
and noise vary at random.  It lets anyone watch the whole training loop work in
under a minute with nothing downloaded (``python -m fer_app.train --data demo``).
"""
import functools
from pathlib import Path

import cv2
import numpy as np

from . import cli
from .checks import SEED, Range, check_outputs
from .cli import run_command
from .labels import CLASSES
from .plots import write_png
from .preprocess import FACE_SIZE

MAX_PER_CLASS = 10_000      # 70,000 faces: more would only fill the disk
CANVAS = 96   # drawn at twice the size, then shrunk with area interpolation (anti-aliasing)

# brow: (inner-end height offset, outer-end height offset) relative to the brow line; + is down
BROWS = {"angry": (6, -4), "disgust": (4, 0), "fear": (-6, -1), "happy": (0, 0),
         "sad": (-6, 3), "surprise": (-9, -9), "neutral": (0, 0)}
EYE_OPEN = {"angry": 4, "disgust": 3, "fear": 8, "happy": 4, "sad": 4, "surprise": 9, "neutral": 5}


def _mouth(img, label, cx, cy, rng, ink):
    w = int(rng.uniform(14, 20))
    if label == "happy":
        cv2.ellipse(img, (cx, cy - 4), (w, 10), 0, 10, 170, ink, 3)
    elif label == "sad":
        cv2.ellipse(img, (cx, cy + 8), (w, 9), 0, 190, 350, ink, 3)
    elif label == "surprise":
        cv2.ellipse(img, (cx, cy + 2), (9, 13), 0, 0, 360, ink, -1)
    elif label == "fear":
        cv2.ellipse(img, (cx, cy + 2), (w, 6), 0, 0, 360, ink, -1)
    elif label == "angry":
        cv2.line(img, (cx - w, cy + 2), (cx + w, cy + 2), ink, 4)
        cv2.line(img, (cx - w, cy + 2), (cx - w - 3, cy + 6), ink, 3)
        cv2.line(img, (cx + w, cy + 2), (cx + w + 3, cy + 6), ink, 3)
    elif label == "disgust":
        pts = np.array([[cx - w, cy + 4], [cx - w // 3, cy - 2], [cx + w // 3, cy + 3], [cx + w, cy - 5]], np.int32)
        cv2.polylines(img, [pts], False, ink, 3)
        cv2.line(img, (cx - 6, cy - 16), (cx + 6, cy - 18), ink, 2)     # wrinkled nose
    else:
        cv2.line(img, (cx - w, cy), (cx + w, cy), ink, 3)


def draw_face(label, rng):
    """One 48×48 uint8 cartoon face of class ``label`` (a name from CLASSES)."""
    bg = rng.uniform(30, 220)
    img = np.full((CANVAS, CANVAS), bg, np.float32)
    skin = float(np.clip(bg + rng.choice([-1, 1]) * rng.uniform(50, 100), 20, 235))
    ink = float(np.clip(skin - rng.uniform(80, 140), 0, 255)) if skin > 110 else float(np.clip(skin + 110, 0, 255))
    c = CANVAS // 2
    cv2.ellipse(img, (c, c), (int(rng.uniform(30, 36)), int(rng.uniform(38, 44))), 0, 0, 360, skin, -1)
    eye_y, brow_y = c - 10, c - 21
    for side in (-1, 1):
        ex = c + side * 13
        cv2.ellipse(img, (ex, eye_y), (6, EYE_OPEN[label]), 0, 0, 360, ink, -1)
        inner, outer = BROWS[label]
        cv2.line(img, (ex - side * 2, brow_y + inner), (ex + side * 10, brow_y + outer), ink, 3)
    _mouth(img, label, c, c + 17, rng, ink)
    m = cv2.getRotationMatrix2D((c, c), rng.uniform(-12, 12), rng.uniform(0.85, 1.1))
    m[:, 2] += rng.uniform(-6, 6, 2)
    img = cv2.warpAffine(img, m, (CANVAS, CANVAS), borderMode=cv2.BORDER_REPLICATE)
    img += rng.normal(0, rng.uniform(2, 12), img.shape)
    small = cv2.resize(img, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA)
    return np.clip(small, 0, 255).astype(np.uint8)


def make_faces(n_per_class, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(CLASSES)), n_per_class)
    rng.shuffle(labels)
    faces = np.stack([draw_face(CLASSES[label], rng) for label in labels])
    return faces, labels.astype(np.int64)


def demo_splits(seed=0):
    """{"train": 3,500 faces, "val": 350, "test": 350} — balanced; drawn in about a second; asked for again in one
    process (a notebook, the test suite), they are copied from memory."""
    return {split: (faces.copy(), labels.copy()) for split, (faces, labels) in _drawn_splits(seed).items()}


@functools.lru_cache(maxsize=2)
def _drawn_splits(seed):
    return {"train": make_faces(500, seed), "val": make_faces(50, seed + 1), "test": make_faces(50, seed + 2)}


def build_parser():
    p = cli.parser("demo", "Write demo faces as PNG files, one folder per class (a dataset in the class-folder "
                           "layout, or faces to try).")
    p.add_argument("--out", default="demo_faces", help="folder to write into")
    p.add_argument("--per-class", type=Range(1, MAX_PER_CLASS, integer=True), default=5, help="faces per class")
    p.add_argument("--seed", type=SEED, default=0, help="random seed")
    p.add_argument("--overwrite", action="store_true", help="replace faces an earlier run wrote there "
                                                            "(default: refuse)")
    return p


def main(argv=None):
    """``python -m fer_app.demo --out DIR``: write demo faces as a class-folder tree (DIR/<class>/NNN.png)."""
    args = build_parser().parse_args(argv)
    return run_command(lambda: write_faces(args))


def write_faces(args):
    faces, labels = make_faces(args.per_class, args.seed)
    names = [f"{c}/{n:03d}.png" for c in CLASSES for n in range(args.per_class)]
    check_outputs([("--out", args.out, names)], [], args.overwrite)
    counts = {}
    for face, label in zip(faces, labels):
        folder = Path(args.out) / CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        n = counts[label] = counts.get(label, -1) + 1
        write_png(folder / f"{n:03d}.png", face)
    print(f"wrote {len(faces)} faces into {args.out}/<class>/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
