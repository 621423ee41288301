"""Real-time expression recognition: ``python -m fer_app.live --source 0``.

Reads a webcam, a video, an image or a folder of images; finds faces (YuNet, or the Haar
cascade), classifies every face of a frame in one batch, tracks faces across frames — a
face is shown once it is confirmed, so a one-off false detection never is — with per-face
smoothing, and draws boxes, labels, probability bars and the FPS.
``q`` or Esc quits the window; ``--no-display`` runs headless; ``--output`` records
the annotated result and ``--jsonl`` logs every frame, with or without faces.
"""
import json
import math
import os
import signal
import sys
import time
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from . import cli
from .callbacks import PROGRESS_LINE_SECONDS
from .checks import FRACTION, POSITIVE_INT, PROBABILITY, Range, UserError, check_outputs, writing_alone
from .cli import run_command
from .checks import DataError
from .images import IMAGE_SUFFIXES, VIDEO_SUFFIXES, read_image
from .recording import CODECS, VideoRecording
from .track import FaceTracker

COLOURS = {"angry": (40, 40, 220), "disgust": (40, 140, 40), "fear": (160, 60, 160), "happy": (40, 200, 240),
           "sad": (200, 120, 40), "surprise": (0, 140, 255), "neutral": (180, 180, 180)}
FONT = cv2.FONT_HERSHEY_SIMPLEX
MAX_BAD_FRAMES = 25          # consecutive undecodable frames before a video counts as ended


class SourceError(UserError):
    """A webcam, video or image source that cannot be used."""


# ---------------------------------------------------------------- sources

def is_camera(source):
    """A webcam index: 0, 1, … (OpenCV numbers cameras from 0; a longer number is taken as a file name)."""
    return source.isdigit() and len(source) <= 3


def source_images(source):
    """The image files a source names (a folder of them, or one), or None for a webcam or a video."""
    path = Path(source)
    if is_camera(source) or not path.exists():
        return None
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise SourceError(f"{source}: folder has no images")
        return images
    return [path] if path.suffix.lower() in IMAGE_SUFFIXES else None


def open_source(source, images):
    """(kind, frames, fps, total) of a source whose image files (source_images) are ``images``: frames yields
    (index, time_s, frame or None, name), None marking an undecodable frame; total is the number of frames
    (None for a camera)."""
    if is_camera(source):
        return "camera", *_open_capture(int(source), f"camera {source}", live=True)
    if not Path(source).exists():
        raise SourceError(f"{source}: no such file, folder or camera index")
    if images:
        return "images", _image_frames(images, skip_bad=Path(source).is_dir()), 0.0, len(images)
    return "video", *_open_capture(source, source, live=False)


def annotated_names(images):
    """The file name each image's annotated copy gets: its stem as .png, and its suffix too where two
    images share a stem (face.jpg and face.png → face_jpg.png, face_png.png)."""
    stems = [p.stem for p in images]
    return {p.name: f"{p.stem}.png" if stems.count(p.stem) == 1 else f"{p.stem}_{p.suffix[1:]}.png" for p in images}


def _image_frames(paths, skip_bad):
    """Each image in turn; with skip_bad (a folder), an unreadable one is reported and skipped."""
    for i, path in enumerate(paths):
        try:
            yield i, 0.0, read_image(path), path.name
        except DataError as e:
            if not skip_bad:
                raise
            print(f"warning: {e}; skipped", file=sys.stderr)
            yield i, 0.0, None, path.name


def _open_capture(target, name, live):
    """Open a camera or video now (so errors surface at once); returns (frames, fps, frame count or None)."""
    cap = cv2.VideoCapture(target)
    if not cap.isOpened():
        what = "is not available (no camera at that index, or it is in use)" if live else \
            "cannot be opened as a video (unreadable or unsupported)"
        raise SourceError(f"{name} {what}")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    total = None if live else int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    return _capture_frames(cap, name, fps, total), fps, total


def _capture_frames(cap, name, fps, total):
    """The frames of ``cap``; ``total``, the frames a video says it has (None: a camera, which has no end)."""
    live = total is None
    start, index, bad_run = time.monotonic(), 0, 0
    try:
        while True:
            ok, frame = cap.read()
            if ok and frame is not None:
                bad_run = 0
                t = time.monotonic() - start if live else index / fps
                yield index, t, frame, name
            elif live or index >= total - 1 or bad_run >= MAX_BAD_FRAMES:
                if index == 0:
                    raise SourceError(f"{name}: no frame could be read")
                if live:               # a camera does not end: it was unplugged, or another program took it
                    raise SourceError(f"{name} stopped giving frames after frame {index - 1}; what came before is "
                                      f"kept")
                if bad_run >= MAX_BAD_FRAMES and index - bad_run < 0.95 * total:     # (a stated count may be a bit off)
                    raise SourceError(f"{name}: unreadable from frame {index - bad_run} of {total} on (damaged?); "
                                      f"frames before it are kept")
                return
            else:
                bad_run += 1
                yield index, index / fps, None, name
            index += 1
    finally:
        cap.release()


# ---------------------------------------------------------------- drawing

PANEL_WIDTH, PANEL_ROW = 114, 14     # the probability panel beside a face
GAP = 4                              # pixels between a box and its label or panel
LABEL_FONT = {False: (0.6, 2), True: (0.45, 1)}     # (scale, thickness) of the labels: full, compact overlay
OVERLAYS = ("auto", "full", "compact")
FULL_UP_TO = 3                       # --overlay auto: a panel for every face up to this many, then compact
ANNOTATE_MIN_SIDE = 360              # images with a shorter side are enlarged before detection and drawing


def panel_size(n_classes):
    return PANEL_WIDTH, 4 + PANEL_ROW * n_classes


def label_text(label, prob, track_id):
    return f"#{track_id} {label} {100 * prob:.0f}%"


def is_compact(style, n_faces):
    """--overlay compact, or auto with more than FULL_UP_TO faces: smaller labels, one panel."""
    return style == "compact" or (style == "auto" and n_faces > FULL_UP_TO)


def label_size(text, compact):
    (tw, th), _ = cv2.getTextSize(text, FONT, *LABEL_FONT[compact])
    return tw + 8, th + 10


def overlap_area(a, b):
    """Shared area of two (x, y, w, h) rectangles."""
    dx = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    dy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(dx, 0) * max(dy, 0)


def _inside(rect, W, H):
    x, y, w, h = rect
    return 0 <= x and 0 <= y and x + w <= W and y + h <= H


def _clamped(x, w, W):
    return min(max(x, 0), max(W - w, 0))


def layout_overlays(boxes, label_sizes, frame_shape, n_classes, compact):
    """Where each face's label (x, y, w, h) and probability panel (x, y, w, h, or None) go.

    Labels first, every face one: above its box, below it, or inside its top or bottom edge — the first
    place inside the frame that covers no other face and no label placed before it (where every place
    covers something, the one that covers least).  Then panels, for every face or, ``compact``, only the
    largest: the place beside, below or above the box or
    its label nearest the face that covers no face, label or panel; a panel with no such place is left out,
    since a panel over a face hides what it explains."""
    H, W = frame_shape[:2]
    labels, taken = [], []
    for i, ((x, y, w, h), (lw, lh)) in enumerate(zip(boxes, label_sizes)):
        others = [b for j, b in enumerate(boxes) if j != i]
        lx = _clamped(x, lw, W)
        candidates = [(lx, y - lh - GAP // 2, lw, lh), (lx, y + h + GAP // 2, lw, lh), (lx, y, lw, lh),
                      (lx, y + h - lh, lw, lh)]
        fits = [c for c in candidates if _inside(c, W, H)] or [(lx, _clamped(y, lh, H), lw, lh)]
        label = min(fits, key=lambda c: (sum(overlap_area(c, t) for t in others + taken), fits.index(c)))
        labels.append(label)
        taken.append(label)
    with_panel = range(len(boxes)) if not compact or not boxes else [max(range(len(boxes)),
                                                                     key=lambda i: boxes[i][2] * boxes[i][3])]
    pw, ph = panel_size(n_classes)
    panels = [None] * len(boxes)
    for i in with_panel:
        x, y, w, h = boxes[i]
        lx, ly, lw, lh = labels[i]
        columns = (x + w + GAP, x - pw - GAP, x, x + w - pw, lx + lw + GAP)
        rows = (y, y + h - ph, y + h + GAP, y - ph - GAP, ly + lh + GAP, ly - ph - GAP, _clamped(y, ph, H))
        free = [(cx, cy, pw, ph) for cx in columns for cy in rows
                if _inside((cx, cy, pw, ph), W, H) and not any(overlap_area((cx, cy, pw, ph), t)
                                                               for t in list(boxes) + taken)]
        if free:                             # the free place nearest the face
            panels[i] = min(free, key=lambda c: abs(c[0] + pw / 2 - x - w / 2) + abs(c[1] + ph / 2 - y - h / 2))
            taken.append(panels[i])
    return labels, panels


def draw_face(frame, box, probs, classes, track_id, label_rect, panel, compact=False):
    """The face's box; its label band ("#id label pct%", black on the class colour, readable on any
    background) at ``label_rect``; and its probability bars at ``panel`` (None: no panel)."""
    x, y, w, h = box
    best = int(np.argmax(probs))
    colour = COLOURS.get(classes[best], (255, 255, 255))
    cv2.rectangle(frame, (x, y), (x + w, y + h), colour, 2)
    lx, ly, lw, lh = label_rect
    cv2.rectangle(frame, (lx, ly), (lx + lw - 1, ly + lh - 1), colour, -1)
    scale, thickness = LABEL_FONT[compact]
    cv2.putText(frame, label_text(classes[best], probs[best], track_id), (lx + 4, ly + lh - 7), FONT, scale,
                (0, 0, 0), thickness, cv2.LINE_AA)
    if panel is None:
        return
    bar_x, bar_y, pw, ph = panel
    region = frame[bar_y:bar_y + ph, bar_x:bar_x + pw]
    region[...] = region // 3                # darken behind the bars so the labels read on any background
    for i, (c, p) in enumerate(zip(classes, probs)):
        yy = bar_y + 4 + i * PANEL_ROW
        cv2.rectangle(frame, (bar_x, yy), (bar_x + int(60 * p), yy + 10), COLOURS.get(c, (255, 255, 255)), -1)
        cv2.putText(frame, f"{c[:4]} {100 * p:.0f}", (bar_x + 62, yy + 9), FONT, 0.35, (255, 255, 255), 1, cv2.LINE_AA)


def annotation_canvas(image):
    """The image as BGR, and its scale: a small image (a 48-pixel face photo, say) enlarged by the whole factor
    that brings its shorter side to ANNOTATE_MIN_SIDE or more, so the detector finds its faces and labels and
    panels fit."""
    scale = max(1, math.ceil(ANNOTATE_MIN_SIDE / min(image.shape[:2])))
    if image.ndim == 2 or image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR if image.ndim == 2 else cv2.COLOR_BGRA2BGR)
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC) if scale > 1 else image, scale


def in_source_pixels(face, scale):
    """The face found on a copy enlarged ``scale`` times, in the source image's own pixels."""
    if scale == 1:
        return face
    eyes = face.eyes and tuple((x / scale, y / scale) for x, y in face.eyes)
    detected = face.detected_box and tuple(v / scale for v in face.detected_box)
    return replace(face, box=tuple(round(v / scale) for v in face.box), eyes=eyes, detected_box=detected)


def draw_no_face(image):
    """A visible "no face found" band across the top of an image without faces."""
    text = "no face found"
    (tw, th), _ = cv2.getTextSize(text, FONT, 0.6, 2)
    cv2.rectangle(image, (0, 0), (tw + 12, th + 12), (40, 40, 220), -1)
    cv2.putText(image, text, (6, th + 5), FONT, 0.6, (255, 255, 255), 2, cv2.LINE_AA)


def draw_fps(frame, fps):
    cv2.putText(frame, f"{fps:.1f} FPS", (8, 22), FONT, 0.6, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(frame, f"{fps:.1f} FPS", (8, 22), FONT, 0.6, (0, 255, 0), 1, cv2.LINE_AA)


# ---------------------------------------------------------------- main loop

class Recorder:
    """Writes annotated frames to a video file, or to a folder for image sources (``names``: annotated_names)."""

    def __init__(self, output, kind, fps=25.0, names=None):
        self.output, self.kind, self.fps, self.names, self.writer = output, kind, fps, names, None
        if kind == "images":
            os.makedirs(output, exist_ok=True)

    def write(self, frame, name):
        if self.kind == "images":
            target = os.path.join(self.output, self.names[name])
            if not cv2.imwrite(target, frame):
                raise UserError(f"--output {self.output}: cannot write {target}")
            return
        if self.writer is None:
            os.makedirs(os.path.dirname(os.path.abspath(self.output)), exist_ok=True)
            self.writer = VideoRecording(self.output, self.fps)
        self.writer.write(frame)

    def close(self):
        if self.writer is not None:
            self.writer.close()


def check_live_outputs(args, images):
    """--output and --jsonl replace no input (the source, its folder, the model) nor, without --overwrite,
    an existing file; --output names a folder for images (``images``, the source's) and a video file
    otherwise.  The annotated images' names, or None."""
    names = annotated_names(images) if images else None
    if args.output and images and Path(args.output).suffix.lower() in VIDEO_SUFFIXES | IMAGE_SUFFIXES:
        raise UserError(f"--output {args.output}: the source is images, so --output names a folder for "
                        f"their annotated copies, not a file")
    if args.output and not images and Path(args.output).suffix.lower() not in CODECS:
        raise UserError(f"--output {args.output}: name a video file ({', '.join(sorted(CODECS))})")
    source = None if is_camera(args.source) else args.source
    output = ("--output", args.output, list(names.values())) if names else ("--output", args.output)
    check_outputs([output, ("--jsonl", args.jsonl)], [("--source", source), ("--model", args.model)], args.overwrite)
    return names


def run(args):
    """The command: its outputs checked and held (a second live writing the same file stops at once), then
    every frame of the source in turn."""
    images = source_images(args.source)
    names = check_live_outputs(args, images)
    with ExitStack() as held:
        for option, path in (("--output", args.output), ("--jsonl", args.jsonl)):
            if path:
                held.enter_context(writing_alone(path, option))
        held.enter_context(terminate_as_interrupt())
        return recognize_all(args, images, names)


@contextmanager
def terminate_as_interrupt():
    """SIGTERM (a service stopping, `kill`) ends the run as Ctrl-C does: the recording and the JSONL are closed
    properly before the process exits."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def interrupts_held():
    """Ctrl-C and SIGTERM that arrive inside the block take effect when it is done: a frame's JSONL line and its
    recorded frame are written both, never one without the other."""
    arrived = []
    previous = {sig: signal.signal(sig, lambda signum, frame: arrived.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if arrived:
        raise KeyboardInterrupt


def recognize_all(args, images, names):
    """Detect, classify, track, draw, record and log every frame of the source; the exit code."""
    recognizer = cli.recognizer(args)
    kind, frames, source_fps, total = open_source(args.source, images)
    display = not args.no_display
    if display and sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        print("warning: no display found; running headless (use --no-display to silence this)", file=sys.stderr)
        display = False
    tracker = None if kind == "images" else FaceTracker(args.smooth, confirm_hits=args.confirm,
                                                        confirm_window=args.confirm_window,
                                                        confirm_score=args.confirm_score)
    recorder = Recorder(args.output, kind, source_fps or 25.0, names) if args.output else None
    if args.jsonl:
        Path(args.jsonl).parent.mkdir(parents=True, exist_ok=True)
    jsonl = open(args.jsonl, "w", buffering=1) if args.jsonl else None     # whole lines reach the disk, one by one
    classes = recognizer.classes
    n_frames, bad_frames, fps, started = 0, [], 0.0, time.perf_counter()
    faces, no_face = [], []
    try:
        for index, t, frame, name in with_progress(frames, total if kind == "video" else 0, args.source):
            if frame is None:        # (an image's reason was given as it was read)
                bad_frames.append(index)
                continue
            tick = time.perf_counter()
            scale = 1
            if kind == "images":      # a small photo is enlarged: its faces are found, and labels and panels read
                frame, scale = annotation_canvas(frame)
            detected = kind == "images" or index % args.detect_every == 0 or not faces
            if detected:
                faces = recognizer.find_faces(frame)
            else:      # between detections, follow the tracked faces
                faces = [tr.face for tr in tracker.tracks if tr.missed == 0]
            if kind == "images" and not faces:
                no_face.append(str(name))
            probs = recognizer.classify_faces(frame, faces)
            if tracker:              # only confirmed tracks are shown and logged
                tracks = [tr for tr in tracker.update(faces, probs, detected) if tr.confirmed]
                shown_faces, ids, shown = [tr.face for tr in tracks], [tr.id for tr in tracks], [tr.probs for tr in tracks]
            else:
                shown_faces, ids, shown = faces, list(range(len(faces))), list(probs)
            if kind == "images" and not faces:
                draw_no_face(frame)
            boxes = [face.box for face in shown_faces]
            compact = is_compact(args.overlay, len(boxes))
            sizes = [label_size(label_text(classes[int(np.argmax(p))], p.max(), tid), compact)
                     for p, tid in zip(shown, ids)]
            labels, panels = layout_overlays(boxes, sizes, frame.shape, len(classes), compact)
            for box, p, tid, label, panel in zip(boxes, shown, ids, labels, panels):
                draw_face(frame, box, p, classes, tid, label, panel, compact)
            dt = time.perf_counter() - tick
            fps = 1 / dt if fps == 0 else 0.9 * fps + 0.1 / max(dt, 1e-6)
            if kind != "images":             # a rate means nothing for still images
                draw_fps(frame, fps)
            n_frames += 1
            with interrupts_held():
                if jsonl:
                    records = [dict(recognizer.as_dict(in_source_pixels(face, scale), p),
                                    label=classes[int(np.argmax(p))], track_id=tid)
                               for face, p, tid in zip(shown_faces, shown, ids)]
                    jsonl.write(json.dumps({"frame": index, "time": round(t, 3), "source": str(name),
                                            "faces": records}) + "\n")
                if recorder:
                    recorder.write(frame, name)
            if display:
                cv2.imshow("fer_app live (q or Esc quits)", frame)
                key = cv2.waitKey(0 if kind == "images" and args.pause else 1) & 0xFF
                if key in (ord("q"), 27):
                    break
    finally:
        if recorder:
            recorder.close()
        if jsonl:
            jsonl.close()
        if display:
            cv2.destroyAllWindows()
    elapsed = time.perf_counter() - started
    print(f"{n_frames} frame(s) in {elapsed:.1f} s ({n_frames / max(elapsed, 1e-9):.1f} FPS overall)"
          + (f"; {len(bad_frames)} undecodable {'image' if kind == 'images' else 'frame'}(s) skipped"
             if bad_frames else ""))
    if bad_frames and kind != "images":
        print(f"warning: {len(bad_frames)} frame(s) of {args.source} could not be decoded and were skipped: frames "
              f"{frame_ranges(bad_frames)}", file=sys.stderr)
    written = ([f"annotated {'images' if kind == 'images' else 'video'}: {args.output}"] if recorder else []) + \
        ([f"JSONL: {args.jsonl}"] if jsonl else [])
    if written:
        print("written: " + "; ".join(written))
    if no_face:
        print(f"no face found in {len(no_face)} image(s): {', '.join(no_face)}")
    if kind == "images" and bad_frames and not n_frames:       # a job that processed nothing did not succeed
        raise DataError(f"{args.source}: none of its {len(bad_frames)} image(s) could be read")
    return 0


def with_progress(frames, total, what):
    """The frames, with progress toward ``total`` (0: none, as for a camera) shown by Progress."""
    if not total:
        yield from frames
        return
    progress = Progress(total, what)
    try:
        for done, item in enumerate(frames, 1):
            yield item
            progress(done)
    finally:
        progress.close()


class Progress:
    """Progress toward ``total`` frames: a tqdm bar on a terminal, else a line every PROGRESS_LINE_SECONDS with
    the rate and the time left, headed by ``what`` (a source, a job)."""

    def __init__(self, total, what):
        self.total, self.what = total, what
        self.started = self.last_line = time.monotonic()
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total, unit="frame", leave=False, dynamic_ncols=True, desc=Path(what).name)

    def __call__(self, done):
        """``done`` frames of ``total`` so far."""
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
        elif done and time.monotonic() - self.last_line > PROGRESS_LINE_SECONDS:
            self.last_line = time.monotonic()
            rate = done / (self.last_line - self.started)
            print(f"{self.what}: frame {done}/{self.total}, {rate:.1f} FPS, about "
                  f"{(self.total - done) / rate:.0f} s left", flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def frame_ranges(indices):
    """Sorted frame numbers as ranges: [3, 4, 5, 9] → "3-5, 9"."""
    runs = []
    for i in indices:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ", ".join(f"{a}-{b}" if b > a else str(a) for a, b in runs)


def build_parser():
    p = cli.parser("live", __doc__.split("\n\n")[0])
    p.add_argument("--source", default="0", help="webcam index, video file, image file or folder of images "
                                                  "(default: 0, the first webcam)")
    cli.add_model_option(p)
    p.add_argument("--no-display", action="store_true", help="run without a window (default: show one)")
    p.add_argument("--output", help="record the annotated video (or, for images, a folder of annotated images): "
                                    ".mp4/.mov/.mkv H.264, written so that it plays even if the run is killed; "
                                    ".avi MJPG, .webm VP8, .wmv (default: none)")
    p.add_argument("--jsonl", help="write one JSON line per frame: frame, time, source, faces[box, score, emotions, label, "
                                   "track_id] (default: none)")
    p.add_argument("--overwrite", action="store_true", help="replace existing --output and --jsonl files "
                                                            "(default: refuse)")
    p.add_argument("--overlay", choices=OVERLAYS, default="auto",
                   help="full: every face gets its label and a panel of the 7 probabilities; compact: labels, and "
                        f"a panel for the largest face only; auto: full up to {FULL_UP_TO} faces, then compact "
                        "(default: auto)")
    p.add_argument("--smooth", type=FRACTION, default=FaceTracker.smoothing,
                   help="per-face EMA weight of the past in [0, 1); 0 turns smoothing off")
    p.add_argument("--detect-every", type=POSITIVE_INT, default=2,
                   help="run the face detector every Nth video frame and follow the tracked boxes in between")
    cli.add_detector_options(p)
    p.add_argument("--confirm", type=Range(1, 10, integer=True), default=FaceTracker.confirm_hits,
                   help="video: show a face once it was detected in this many of the last --confirm-window "
                        "detections (1: at once)")
    p.add_argument("--confirm-window", type=Range(1, 10, integer=True), default=FaceTracker.confirm_window,
                   help="video: detections --confirm counts over")
    p.add_argument("--confirm-score", type=PROBABILITY, default=FaceTracker.confirm_score,
                   help="video, yunet: a detection this confident is shown at once")
    cli.add_tta_option(p)
    p.add_argument("--pause", action="store_true", help="with images and a window: wait for a key on each "
                                                        "(default: move on)")
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.confirm > args.confirm_window:
        parser.error("--confirm cannot exceed --confirm-window")
    cli.check_detector_options(parser, args)
    return run_command(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
