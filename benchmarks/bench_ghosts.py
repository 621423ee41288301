"""Ghosts against faces: what YuNet's confidence and its five landmarks tell apart, measured on false
detections in face-free frames and on real faces in clutter.

    python benchmarks/bench_ghosts.py [--images DIR ...] [--frames 2000] [--faces 150] [--fer ../shared/data/fer2013]

Face-free frames: random crops (40–100 % of a side, some mirrored) of scikit-image's photos and textures that
show no person, and of every image in the --images folders (give folders of photos with no face in them: the
more kinds of things, the fairer the test), with ellipses, lines and text drawn on them and some blurred,
shrunk to 320 pixels as live detection does.  Faces: FER-2013 PublicTest faces placed in clutter as
bench_detect.py places them, at full size turned 0°, 20° and 35°, at half size turned 0° and 20°, at a third.

With --clips N, time as well: N ghosts (face-free frames with a detection at 0.6 or more) and the first
--clip-faces PublicTest faces at every size and angle, each filmed as a still scene for 40 detection passes (the
camera drifting up to 4 pixels, zooming ±1 %, light ±3 %, sensor noise, JPEG 70), and the share of passes on
which live's tracker shows each (fer_app.track.FaceTracker, its defaults) against rules that keep asking for 3
(or 2, or 4) of the last 5 passes.

A ghost's landmarks are compared with the faces' in the frame of the eyes (origin midway between them, x along
them, unit their distance): the nose, the two mouth corners and the box centre, and the eye distance and height
over the box's width.  A Mahalanobis distance is fitted on half the faces only — it never sees a ghost, so it
cannot learn the photos they came from — and each threshold is set to keep a share of the other half.
"""
import argparse
import functools
import glob
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from bench_detect import fer_faces, found, place  # noqa: E402

from fer_app.data import default_data  # noqa: E402
from fer_app.detect import Face, YuNetFaceDetector, _shrink, _yunet  # noqa: E402
from fer_app.track import FaceTracker, iou  # noqa: E402

# scikit-image's images without a person (not astronaut, camera or lfw_subset); each as BGR uint8
SKIMAGE = ("brick", "cat", "cell", "checkerboard", "clock", "coffee", "coins", "colorwheel", "grass", "gravel",
           "horse", "hubble_deep_field", "immunohistochemistry", "logo", "moon", "page", "retina", "rocket",
           "shepp_logan_phantom", "text")
MIN_SCORE = 0.3              # below live's 0.6, so that the figures show what a lower bar would let in
FACES = ((1.0, 0), (1.0, 20), (1.0, 35), (0.5, 0), (0.5, 20), (1 / 3, 0))   # (size, turned by degrees)
FEATURES = ("nose x", "nose y", "mouth R x", "mouth R y", "mouth L x", "mouth L y", "box x", "box y",
            "eyes / width", "height / width")


def as_bgr(image):
    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    elif image.dtype != np.uint8:
        image = (255 * (image - image.min()) / max(np.ptp(image), 1e-9)).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(image[:, :, :3], cv2.COLOR_RGB2BGR)


def photos(folders):
    """{name: BGR image} for scikit-image's face-free images and every readable image in the folders."""
    from skimage import data
    out = {name: as_bgr(getattr(data, name)()) for name in SKIMAGE}
    for folder in folders:
        for path in sorted(glob.glob(os.path.join(folder, "*"))):
            image = cv2.imread(path)
            if image is not None:
                out[os.path.relpath(path, folder)] = image
    return out


def face_free_frame(images, rng):
    """(a 640×480 frame cut from one of the images with shapes and text drawn on it, the image's name)."""
    name = list(images)[rng.integers(len(images))]
    image = images[name]
    h, w = image.shape[:2]
    s = rng.uniform(0.4, 1.0)
    y, x = rng.integers(0, h - int(h * s) + 1), rng.integers(0, w - int(w * s) + 1)
    crop = image[y:y + int(h * s), x:x + int(w * s)]
    frame = cv2.resize(crop[:, ::-1] if rng.random() < 0.5 else crop, (640, 480), interpolation=cv2.INTER_LINEAR)
    for _ in range(rng.integers(0, 6)):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        p = tuple(int(v) for v in rng.integers(0, 480, 2))
        kind = rng.integers(3)
        if kind == 0:
            axes = tuple(int(v) for v in rng.integers(10, 60, 2))
            cv2.ellipse(frame, p, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1 if rng.random() < 0.5 else 3)
        elif kind == 1:
            cv2.line(frame, p, (p[0] + 150, p[1] + int(rng.integers(-50, 50))), colour, int(rng.integers(1, 6)))
        else:
            cv2.putText(frame, "fer 2013", p, cv2.FONT_HERSHEY_SIMPLEX, float(rng.uniform(0.5, 2)), colour, 2)
    if rng.random() < 0.3:
        frame = cv2.GaussianBlur(frame, (0, 0), float(rng.uniform(0.5, 2)))
    return frame, name


@functools.lru_cache(maxsize=1)
def yunet():
    """live's YuNet entry point (fer_app.detect: one result buffer a thread, where yuface.detect leaks one a call)."""
    import yuface
    return _yunet(yuface)


def yunet_rows(frame):
    """YuNet's detections at MIN_SCORE or more on the frame shrunk as live shrinks it (YuNetFaceDetector.max_side):
    rows of (confidence, x, y, w, h, the five landmarks' x, y) in the frame's pixels."""
    small, scale = _shrink(frame, YuNetFaceDetector.max_side)
    rows = yunet()(np.ascontiguousarray(small)).astype(np.float64)
    rows = rows[rows[:, 0] >= 100 * MIN_SCORE]
    return np.column_stack([rows[:, :1] / 100, rows[:, 1:] / scale])


def geometry(row):
    """The FEATURES of one detection: its landmarks in the frame of its eyes."""
    points = row[5:15].reshape(5, 2)
    x, y, w, h = row[1:5]
    along = points[1] - points[0]
    unit = max(np.hypot(*along), 1e-6)
    c, s = along / unit
    turn = np.array([[c, s], [-s, c]])
    middle = (points[0] + points[1]) / 2
    nose_and_mouth = (points[2:] - middle) @ turn.T / unit
    box_centre = (np.array([x + w / 2, y + h / 2]) - middle) @ turn.T / unit
    return np.concatenate([nose_and_mouth.ravel(), box_centre, [unit / w, h / w]])


def real_faces(root, n, rng):
    """(size, angle, YuNet row) for each face found in clutter, n PublicTest faces at each of FACES."""
    out = []
    for patch, side, _ in fer_faces(root, n):
        for size, angle in FACES:
            resized = cv2.resize(patch, None, fx=size, fy=size, interpolation=cv2.INTER_AREA)
            frame, centre, true_side = place(resized, side * size, angle * rng.choice((-1, 1)), False, rng)
            hit = found([Box(row) for row in yunet_rows(frame)], centre, true_side)
            if hit is not None:
                out.append((size, angle, hit.row))
    return out


PASSES = 40                  # detection passes a clip lasts (80 frames with live's --detect-every 2)


def still_clip(frame, rng):
    """PASSES frames of a still scene as a camera films it: drifting up to 4 pixels, zooming ±1 %, the light
    ±3 %, sensor noise, JPEG at quality 70."""
    clip, drift = [], np.zeros(2)
    for _ in range(PASSES):
        drift = np.clip(drift + rng.normal(0, 0.7, 2), -4, 4)
        m = cv2.getRotationMatrix2D((320, 240), rng.uniform(-0.3, 0.3), 1 + rng.uniform(-0.01, 0.01))
        m[:, 2] += drift
        f = cv2.warpAffine(frame, m, (640, 480), borderMode=cv2.BORDER_REFLECT_101).astype(np.float32)
        f = np.clip(f * rng.uniform(0.97, 1.03) + rng.normal(0, 2, f.shape), 0, 255).astype(np.uint8)
        clip.append(cv2.imdecode(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 70])[1], cv2.IMREAD_COLOR))
    return clip


def passes_found(clip, box):
    """Per pass, the most confident detection at live's 0.6 or more overlapping ``box`` (IoU 0.3), as a Face,
    or None."""
    out = []
    for frame in clip:
        rows = [r for r in yunet_rows(frame) if r[0] >= 0.6 and iou(tuple(r[1:5]), box) >= 0.3]
        best = max(rows, key=lambda r: r[0], default=None)
        out.append(None if best is None else Face(tuple(int(round(v)) for v in best[1:5]), float(best[0])))
    return out


def shown_by_tracker(found):
    """The share of passes on which live's tracker shows the object (confirmed once, then shown when found)."""
    tracker, shown = FaceTracker(), 0
    for face in found:
        faces = [] if face is None else [face]
        shown += any(t.confirmed for t in tracker.update(faces, [np.full(7, 1 / 7)] * len(faces)))
    return shown / len(found)


def shown_while_confirmed(found, hits, window=5, instant=0.9):
    """The same if a track had to be found in ``hits`` of its last ``window`` passes on every pass it is shown
    (or score ``instant``)."""
    recent, shown = [], 0
    for face in found:
        recent = (recent + [face is not None])[-window:]
        shown += face is not None and (sum(recent) >= hits or face.score >= instant)
    return shown / len(found)


def over_time(images, root, n_ghosts, n_faces, rng):
    ghosts = []
    while len(ghosts) < n_ghosts:
        frame, _ = face_free_frame(images, rng)
        rows = [r for r in yunet_rows(frame) if r[0] >= 0.6]
        if rows:
            ghosts.append(passes_found(still_clip(frame, rng), tuple(rows[0][1:5])))
    faces = {kind: [] for kind in FACES}
    for patch, side, _ in fer_faces(root, n_faces):
        for size, angle in FACES:
            resized = cv2.resize(patch, None, fx=size, fy=size, interpolation=cv2.INTER_AREA)
            frame, (cx, cy), s = place(resized, side * size, angle * rng.choice((-1, 1)), False, rng)
            box = (cx - 0.45 * s, cy - 0.55 * s, 0.9 * s, 1.1 * s)       # about where YuNet boxes a face
            faces[size, angle].append(passes_found(still_clip(frame, rng), box))
    rules = {"found": lambda f: np.mean([x is not None for x in f]), "shown by live's tracker": shown_by_tracker,
             **{f"shown, {k} of last 5 always": (lambda f, k=k: shown_while_confirmed(f, k)) for k in (2, 3, 4)}}
    print(f"\nover time: {n_ghosts} ghosts and {n_faces} faces at each size and angle, {PASSES} passes each; the share "
          f"of passes")
    print(f"{'':<30}{'ghosts':>8}" + "".join(f"{f'{size:.2f} {angle}deg':>13}" for size, angle in FACES))
    for name, rule in rules.items():
        print(f"{name:<30}{np.mean([rule(f) for f in ghosts]):>8.0%}"
              + "".join(f"{np.mean([rule(f) for f in faces[kind]]):>13.0%}" for kind in FACES))


class Box:
    """A YuNet row with the ``box`` bench_detect.found reads."""
    def __init__(self, row):
        self.row, self.box = row, tuple(row[1:5])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", nargs="*", default=[], help="folders of photos without a face, added to "
                                                           "scikit-image's")
    p.add_argument("--frames", type=int, default=2000, help="face-free frames")
    p.add_argument("--faces", type=int, default=150, help="PublicTest faces, each at every size and angle")
    p.add_argument("--fer", default=default_data(), help="FER-2013 folder (Kaggle layout; default: $FER2013_DIR, "
                                                         "else data/fer2013)")
    p.add_argument("--clips", type=int, default=0, help="ghosts to film as still scenes (default: none)")
    p.add_argument("--clip-faces", type=int, default=30, help="with --clips: PublicTest faces filmed at each size "
                                                               "and angle")
    args = p.parse_args()
    if not (args.fer and os.path.isdir(os.path.join(args.fer, "test"))):
        sys.exit(f"error: --fer {args.fer}: no FER-2013 folder with a test/ split")
    rng = np.random.default_rng(1)
    images = photos(args.images)
    ghosts = []
    for _ in range(args.frames):
        frame, name = face_free_frame(images, rng)
        ghosts += [(name, row) for row in yunet_rows(frame)]
    faces = real_faces(args.fer, args.faces, rng)
    ghost_rows = np.array([row for _, row in ghosts]).reshape(-1, 15)
    face_rows = np.array([row for *_, row in faces]).reshape(-1, 15)
    strong = ghost_rows[:, 0] >= 0.6
    print(f"{args.frames} face-free frames from {len(images)} images: {len(ghost_rows)} detections at "
          f"{MIN_SCORE} or more, {strong.sum()} at 0.6 or more (live's --min-score), "
          f"{strong.sum() / args.frames:.3f} a frame; {len(faces)} of {args.faces * len(FACES)} placed faces found")
    if strong.any():
        names = sorted({name for (name, _), s in zip(ghosts, strong) if s})
        print(f"ghosts at 0.6 or more: scores {ghost_rows[strong, 0].min():.2f}-{ghost_rows[strong, 0].max():.2f}, "
              f"from {', '.join(names)}")
    print(f"\n{'faces':<22}{'found':>6}{'median score':>14}{'above every ghost':>19}")
    top = ghost_rows[strong, 0].max() if strong.any() else 0.6
    meta = np.array([(size, angle) for size, angle, _ in faces])
    for size, angle in FACES:
        sel = (np.abs(meta[:, 0] - size) < 1e-6) & (meta[:, 1] == angle)
        scores = face_rows[sel, 0]
        print(f"{f'size {size:.2f}, {angle} deg':<22}{sel.sum():>6}{np.median(scores):>14.2f}"
              f"{np.mean(scores > top):>18.0%}")
    F, G = np.array([geometry(r) for r in face_rows]), np.array([geometry(r) for r in ghost_rows]).reshape(-1, 10)
    print(f"\n{'landmark geometry':<16}{'faces: median [5 %, 95 %]':>30}{'ghosts: median [5 %, 95 %]':>30}")
    for i, name in enumerate(FEATURES):
        cells = [f"{np.median(X[:, i]):6.2f} [{np.percentile(X[:, i], 5):5.2f}, {np.percentile(X[:, i], 95):5.2f}]"
                 for X in (F, G)]
        print(f"{name:<16}{cells[0]:>30}{cells[1]:>30}")
    order = rng.permutation(len(F))
    fit, held = F[order[: len(F) // 2]], F[order[len(F) // 2:]]
    mean, inverse = fit.mean(0), np.linalg.inv(np.cov(fit.T) + 1e-6 * np.eye(F.shape[1]))
    distance = lambda X: np.sqrt(np.einsum("ij,jk,ik->i", X - mean, inverse, X - mean))   # noqa: E731
    print("\nMahalanobis distance fitted on half the faces; ghosts that pass where it keeps a share of the others:")
    for keep in (0.95, 0.98, 0.99):
        bar = np.quantile(distance(held), keep)
        strong_pass = np.mean(distance(G[strong]) < bar) if strong.any() else float("nan")
        print(f"keeps {keep:.0%} of faces (distance < {bar:.1f}): ghosts at 0.3+ pass "
              f"{np.mean(distance(G) < bar):.0%}, at 0.6+ {strong_pass:.0%}")
    if args.clips:
        over_time(images, args.fer, args.clips, args.clip_faces, rng)


if __name__ == "__main__":
    main()
