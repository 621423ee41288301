"""Face detectors compared on composed frames: recall per rotation angle, false detections on face-free
frames, speed at 640 px, and what turning faces level does for accuracy on tilted faces.

    python benchmarks/bench_detect.py [--faces 60] [--fer ../shared/data/fer2013]

Faces: scikit-image's astronaut and FER-2013 PublicTest faces (enlarged 3×, with a mirrored border as their
surroundings), rotated by 0–45° either way, some mirrored, pasted at random places into 640×480 frames of
clutter (scikit-image textures, rectangles, lines, text); the face-free frames are the same clutter alone.
A face counts as found when a box's centre lies within 35 % of the face's size of the true centre and its
size is within 0.5–2× the true size.  The accuracy part classifies the FER faces the detector found, cropped
as live recognition crops them (fer_app.detect.face_crop), with and without alignment, by the shipped model.
"""
import argparse
import glob
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from fer_app import CLASSES  # noqa: E402
from fer_app.classifier import ExpressionClassifier  # noqa: E402
from fer_app.data import default_data  # noqa: E402
from fer_app.detect import face_crop, make_detector  # noqa: E402

ANGLES = (0, 15, 30, 45)
FRAME = (480, 640)


def clutter(rng):
    """A 640×480 BGR frame of textures, rectangles, lines and text: no face."""
    from skimage import data
    # not data.camera(): since scikit-image 0.19 it is a man at his camera, a real face
    textures = [data.brick(), data.grass(), data.gravel(), data.coffee(), data.chelsea(), data.rocket()]
    texture = textures[rng.integers(len(textures))]
    texture = cv2.cvtColor(texture, cv2.COLOR_GRAY2BGR) if texture.ndim == 2 else cv2.cvtColor(texture, cv2.COLOR_RGB2BGR)
    frame = cv2.resize(texture, FRAME[::-1], interpolation=cv2.INTER_LINEAR)
    for _ in range(8):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        p, q = tuple(int(v) for v in rng.integers(0, 480, 2)), tuple(int(v) for v in rng.integers(0, 480, 2))
        kind = rng.integers(3)
        if kind == 0:
            cv2.rectangle(frame, p, (q[0] + 100, q[1]), colour, -1 if rng.random() < 0.5 else 3)
        elif kind == 1:
            cv2.line(frame, p, (q[0] + 150, q[1]), colour, int(rng.integers(1, 6)))
        else:
            cv2.putText(frame, "fer 2013", p, cv2.FONT_HERSHEY_SIMPLEX, float(rng.uniform(0.5, 2)), colour, 2)
    return frame


def fer_faces(root, n):
    """(BGR patch with surroundings, true face side, label) for n PublicTest faces, every class in turn."""
    files = sorted(glob.glob(os.path.join(root, "test", "*", "PublicTest_*.png")))
    picked = files[::max(1, len(files) // n)][:n]
    out = []
    for path in picked:
        face = cv2.resize(cv2.imread(path, cv2.IMREAD_GRAYSCALE), (144, 144), interpolation=cv2.INTER_CUBIC)
        patch = cv2.copyMakeBorder(face, 72, 72, 72, 72, cv2.BORDER_REFLECT_101)
        out.append((cv2.cvtColor(patch, cv2.COLOR_GRAY2BGR), 144, CLASSES.index(os.path.basename(os.path.dirname(path)))))
    return out


def astronaut():
    from skimage.data import astronaut as photo
    head = cv2.cvtColor(photo(), cv2.COLOR_RGB2BGR)[0:280, 80:360]       # the face is about 110 px, centred
    return [(head, 110, None)]


def place(face_patch, side, angle, mirror, rng):
    """A cluttered frame with the patch rotated by angle pasted in (a circle, so no corners show); the true
    centre and side."""
    patch = face_patch[:, ::-1] if mirror else face_patch
    h, w = patch.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    rotated = cv2.warpAffine(patch, m, (w, h), borderMode=cv2.BORDER_REFLECT_101)
    frame = clutter(rng)
    scale = min(1.0, 300 / max(h, w))
    rotated = cv2.resize(rotated, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    h, w = rotated.shape[:2]
    y, x = int(rng.integers(0, FRAME[0] - h)), int(rng.integers(0, FRAME[1] - w))
    mask = np.zeros((h, w), np.uint8)
    cv2.circle(mask, (w // 2, h // 2), min(h, w) // 2, 255, -1)
    region = frame[y:y + h, x:x + w]
    region[mask > 0] = rotated[mask > 0]
    return frame, (x + w / 2, y + h / 2), side * scale


def found(faces, centre, side):
    for f in faces:
        x, y, w, h = f.box
        if np.hypot(x + w / 2 - centre[0], y + h / 2 - centre[1]) < 0.35 * side and 0.5 < max(w, h) / side < 2:
            return f
    return None


def framing(root, n=480):
    """Where each detector's box lies on FER-2013 Training faces (enlarged 4×, their edges mirrored around
    them): the median box relative to the FER crop, and the square that reproduces the FER crop."""
    files = sorted(glob.glob(os.path.join(root, "train", "*", "*.png")))
    files = files[::max(1, len(files) // n)]
    print(f"\nframing on {len(files)} FER-2013 Training faces (box relative to the 48x48 crop, median):")
    for name in ("yunet", "haar"):
        detector, rel = make_detector(name, min_face=20, max_side=640), []
        for path in files:
            side = 192
            face = cv2.resize(cv2.imread(path, cv2.IMREAD_GRAYSCALE), (side, side), interpolation=cv2.INTER_CUBIC)
            frame = cv2.cvtColor(cv2.copyMakeBorder(face, 96, 96, 96, 96, cv2.BORDER_REFLECT_101), cv2.COLOR_GRAY2BGR)
            near = [f for f in detector.find(frame) if abs(f.box[0] + f.box[2] / 2 - 192) < 48
                    and abs(f.box[1] + f.box[3] / 2 - 192) < 48]
            if near:
                x, y, w, h = near[0].box
                rel.append(((x - 96) / side, (y - 96) / side, w / side, h / side))
        x0, y0, w, h = np.median(rel, axis=0)
        print(f"{name:<6} found {len(rel)}: x0 {x0:.3f} y0 {y0:.3f} w {w:.3f} h {h:.3f} -> the FER square is "
              f"{1 / max(w, h):.2f} of the box's longer side, its centre {(0.5 - y0 - h / 2) / max(w, h):+.3f} "
              f"of it below the box's")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--faces", type=int, default=60, help="FER-2013 faces (each at every angle)")
    p.add_argument("--fer", default=default_data(), help="FER-2013 folder (Kaggle layout; default: $FER2013_DIR, else "
                                                         "data/fer2013)")
    p.add_argument("--empty", type=int, default=100, help="face-free frames")
    p.add_argument("--framing", action="store_true", help="only measure how each detector frames FER-2013 faces")
    args = p.parse_args()
    if args.framing:
        return framing(args.fer)
    rng = np.random.default_rng(0)
    sources = astronaut() * 4 + (fer_faces(args.fer, args.faces) if args.fer and os.path.isdir(args.fer) else [])
    detectors = {"yunet @320": make_detector("yunet"), "yunet @640": make_detector("yunet", max_side=640),
                 "haar @640": make_detector("haar")}
    cases = [(place(patch, side, sign * angle, bool(rng.random() < 0.5), rng), label, angle)
             for patch, side, label in sources for angle in ANGLES for sign in ((1,) if angle == 0 else (1, -1))]
    print(f"{len(cases)} frames with one face ({len(sources)} faces x {len(ANGLES) * 2 - 1} rotations), "
          f"{args.empty} face-free frames, 640x480; {os.cpu_count()} cores")
    print(f"{'detector':<12}" + "".join(f"{f'recall {a} deg':>14}" for a in ANGLES)
          + f"{'false/frame':>13}{'ms/frame':>10}")
    empties = [clutter(rng) for _ in range(args.empty)]
    detections = {}
    for name, detector in detectors.items():
        hits = {a: [] for a in ANGLES}
        start = time.perf_counter()
        per_case = []
        for (frame, centre, side), label, angle in cases:
            face = found(detector.find(frame), centre, side)
            hits[angle].append(face is not None)
            per_case.append(face)
        ms = 1000 * (time.perf_counter() - start) / len(cases)
        false = sum(len(detector.find(frame)) for frame in empties) / max(len(empties), 1)
        detections[name] = per_case
        print(f"{name:<12}" + "".join(f"{100 * np.mean(hits[a]):>13.0f}%" for a in ANGLES) + f"{false:>13.2f}{ms:>10.1f}")
    fer = [(i, case) for i, case in enumerate(cases) if case[1] is not None]
    if not fer:
        return
    classifier = ExpressionClassifier()
    print("\naccuracy of the shipped model on the FER faces yunet @320 found, cropped as live crops them:")
    print(f"{'rotation':<10}{'found':>8}{'aligned':>10}{'not aligned':>13}")
    for angle in ANGLES:
        rows = [(cases[i][0][0], detections["yunet @320"][i], cases[i][1]) for i, c in fer
                if c[2] == angle and detections["yunet @320"][i] is not None]
        if not rows:
            continue
        labels = np.array([label for _, _, label in rows])
        accuracy = {}
        for align in (True, False):
            crops = np.stack([face_crop(frame, face, align=align) for frame, face, _ in rows])
            accuracy[align] = (classifier.predict_proba(crops).argmax(1) == labels).mean()
        total = sum(1 for _, c in fer if c[2] == angle)
        print(f"{angle:>4} deg  {len(rows):>4}/{total:<4}{100 * accuracy[True]:>9.1f}%{100 * accuracy[False]:>12.1f}%")


if __name__ == "__main__":
    main()
