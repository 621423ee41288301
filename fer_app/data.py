"""Datasets: FER-2013 as CSV or Kaggle folders, and any class-folder tree (CK+, JAFFE, your photos).

Every loader returns a dict of splits, ``{"train": Split, "val": ..., "test": ...}``; a Split unpacks as
``faces, labels``: faces uint8 (N, 48, 48), labels int64 in FER-2013's class order (CLASSES).  It also
knows each face's source where the layout names one (``keys``), which is how FER+'s crowd votes
(fer_app/ferplus.py, ``labels="ferplus"``) find their faces.

Layouts, told apart by what the path holds:
* ``fer2013.csv`` / ``.csv.gz``: columns emotion,pixels,Usage; Training/PublicTest/PrivateTest
  become train/val/test.
* Kaggle folders ``train/<class>/*`` and ``test/<class>/*``: ``PublicTest_*`` files in test/
  form val, ``PrivateTest_*`` form test; if test/ has neither, all of it is test and val is
  carved from train (stratified, seeded).
* any tree ``<class>/*.png|jpg|…``: each image goes through face detection (``detector``: "yunet"
  or "haar") and the crop of the largest face (fer_app.detect.face_crop, as live recognition crops:
  a photo the face fills is its own crop; a centre crop when no face is found, counted and reported), then
  to 48×48 grey; val is carved from it as above.
"""
import csv
import gzip
import hashlib
import os
from pathlib import Path

import numpy as np

from minicnn.serialization import ModelFileError, atomic_savez, read_npz

from . import ferplus
from .checks import DataError
from .detect import DEFAULT_DETECTOR, largest_face, make_detector
from .images import IMAGE_SUFFIXES, read_image
from .labels import CLASSES, class_id
from .preprocess import FACE_SIZE, to_face48

USAGE_TO_SPLIT = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
CACHE_VERSION = "3"         # 3: class-folder faces: a face cut by the frame keeps its scale, a face photo is its own crop
LABEL_SOURCES = ("fer2013", "ferplus")
FER2013_DIR = "FER2013_DIR"                                 # the environment variable naming a FER-2013 copy
DEFAULT_DATA = ("data/fer2013", "data/fer2013.csv")         # where it is looked for otherwise


class Split(tuple):
    """One split of a dataset; unpacks as ``faces, labels``.

    ``keys`` (N,) str: each face's source, where known: its file relative to the dataset folder
    ("train/angry/Training_1.png"), or its data row in a CSV ("0" is the row under the header).
    ``targets`` (N, 7) float32: the distributions to train on when the labels came from crowd votes, else None."""

    def __new__(cls, faces, labels, keys=None, targets=None):
        split = super().__new__(cls, (faces, labels))
        split.keys, split.targets = keys, targets
        return split

    def subset(self, index):
        pick = lambda a: None if a is None else a[index]     # noqa: E731
        return Split(self[0][index], self[1][index], pick(self.keys), pick(self.targets))


class Report:
    """What a load skipped or worked around; nothing is dropped without being counted here."""

    def __init__(self):
        self.skipped = []           # (where, why)
        self.center_crops = 0

    def lines(self):
        out = []
        if self.skipped:
            out.append(f"skipped {len(self.skipped)} bad item(s) (--skip-bad); first: {self.skipped[0][0]}: "
                       f"{self.skipped[0][1]}")
        if self.center_crops:
            out.append(f"no face found in {self.center_crops} image(s): used a centre crop")
        return out


def _bad(report, skip_bad, where, why):
    if not skip_bad:
        raise DataError(f"{where}: {why} (use --skip-bad to skip such items)")
    report.skipped.append((where, why))


# ---------------------------------------------------------------- CSV

def load_csv(path, skip_bad=False, report=None):
    report = report if report is not None else Report()
    opener = gzip.open if str(path).endswith(".gz") else open
    faces = {s: [] for s in USAGE_TO_SPLIT.values()}
    labels = {s: [] for s in USAGE_TO_SPLIT.values()}
    keys = {s: [] for s in USAGE_TO_SPLIT.values()}
    try:
        with opener(path, "rt", newline="") as f:
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            missing = {"emotion", "pixels"} - set(header)
            if missing:
                raise DataError(f"{path}: header must contain emotion,pixels[,Usage]; got {','.join(header)!r}")
            col = {name: header.index(name) for name in header}
            for line_no, row in enumerate(reader, start=2):
                where = f"{path} line {line_no}"
                if not row:
                    continue
                try:
                    label = int(row[col["emotion"]])
                    pixels = np.array(row[col["pixels"]].split(), dtype=np.int64)
                except (ValueError, IndexError):
                    _bad(report, skip_bad, where, "emotion or pixels is not a number")
                    continue
                usage = row[col["Usage"]].strip() if "Usage" in col and len(row) > col["Usage"] else "Training"
                if usage not in USAGE_TO_SPLIT:
                    _bad(report, skip_bad, where, f"unknown Usage {usage!r} (expected Training, PublicTest, PrivateTest)")
                    continue
                if pixels.size != FACE_SIZE * FACE_SIZE:
                    _bad(report, skip_bad, where, f"expected {FACE_SIZE * FACE_SIZE} pixel values, got {pixels.size}")
                    continue
                if not 0 <= label < len(CLASSES) or pixels.min() < 0 or pixels.max() > 255:
                    _bad(report, skip_bad, where, "emotion must be 0..6 and pixels 0..255")
                    continue
                split = USAGE_TO_SPLIT[usage]
                faces[split].append(pixels.astype(np.uint8).reshape(FACE_SIZE, FACE_SIZE))
                labels[split].append(label)
                keys[split].append(str(line_no - 2))
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: cannot read the CSV: {e}") from None
    return {s: _stack(faces[s], labels[s], keys[s]) for s in faces if faces[s]}


def _stack(faces, labels, keys):
    return Split(np.stack(faces).astype(np.uint8) if faces else np.zeros((0, FACE_SIZE, FACE_SIZE), np.uint8),
                 np.asarray(labels, dtype=np.int64), np.asarray(keys, dtype=str))


# ---------------------------------------------------------------- folders

def _class_folders(root):
    folders = sorted(p for p in Path(root).iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DataError(f"{root}: no class folders inside (expected <class>/*.png, e.g. happy/001.png)")
    return [(folder, class_id(folder.name, where=str(folder))) for folder in folders]


def _image_files(folder):
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"{folder}: empty class folder (no images)")
    return files


def _load_tree(root, face_of, skip_bad, report, split_of=lambda p: None, base=None):
    """Splits of root/<class>/*, grouped by split_of(path) (None: one group); keys relative to ``base``
    (default: root)."""
    groups = {}
    for folder, label in _class_folders(root):
        for path in _image_files(folder):
            try:
                face = face_of(read_image(path))
            except DataError as e:
                _bad(report, skip_bad, str(path), str(e).split(": ", 1)[-1])
                continue
            faces, labels, keys = groups.setdefault(split_of(path), ([], [], []))
            faces.append(face)
            labels.append(label)
            keys.append(path.relative_to(base or root).as_posix())
    return {k: _stack(*v) for k, v in groups.items()}


def _kaggle_test_split(path):
    name = path.name
    return "val" if name.startswith("PublicTest") else "test" if name.startswith("PrivateTest") else None


def load_kaggle_folders(root, skip_bad=False, val_fraction=0.1, seed=0, report=None):
    report = report if report is not None else Report()
    root = Path(root)
    splits = {}
    if (root / "train").is_dir():
        splits.update(_load_tree(root / "train", to_face48, skip_bad, report, lambda p: "train", root))
    if (root / "test").is_dir():
        for key, value in _load_tree(root / "test", to_face48, skip_bad, report, _kaggle_test_split, root).items():
            splits[key or "test"] = value
    if "val" not in splits and "train" in splits:
        splits["train"], splits["val"] = stratified_split(splits["train"], val_fraction, seed)
    return splits


def load_class_tree(root, skip_bad=False, val_fraction=0.1, seed=0, report=None, detector=DEFAULT_DETECTOR):
    report = report if report is not None else Report()
    find = make_detector(detector, min_face=20)

    def face_of(image):
        face, found = largest_face(image, find)
        report.center_crops += not found
        return face

    train, val = stratified_split(_load_tree(root, face_of, skip_bad, report)[None], val_fraction, seed)
    return {"train": train, "val": val}


def stratified_split(split, fraction, seed):
    """Move ``fraction`` of every class of ``split`` (at least one image where a class has two or more) to a
    second split; (the rest, the moved)."""
    split = split if isinstance(split, Split) else Split(*split)
    labels = split[1]
    rng = np.random.default_rng(seed)
    held = []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        take = int(round(len(idx) * fraction)) if len(idx) > 1 else 0
        held.extend(idx[:max(take, 1 if len(idx) > 1 and fraction > 0 else 0)])
    mask = np.zeros(len(labels), bool)
    mask[held] = True
    return split.subset(~mask), split.subset(mask)


# ---------------------------------------------------------------- entry point + cache

def detect_layout(path):
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder (put FER-2013 there as data/README.md says, name your own "
                        "labelled faces with --data PATH, or try --data demo)")
    if path.is_file():
        if path.name.lower().endswith((".csv", ".csv.gz")):
            return "csv"
        raise DataError(f"{path}: expected a .csv/.csv.gz file or a folder")
    if (path / "train").is_dir() or (path / "test").is_dir():
        return "kaggle"
    return "tree"


def _fingerprint(path, options):
    """Hash of the source (every file's name, size and mtime) and the load options."""
    h = hashlib.sha1(f"{CACHE_VERSION}|{Path(path).resolve()}|{sorted(options.items())}".encode())
    path = Path(path)
    entries = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for p in entries:
        st = p.stat()
        h.update(f"{p}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def default_cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fer_app"


def default_data():
    """The dataset a command uses when not given one: $FER2013_DIR if set, else the first of DEFAULT_DATA
    that exists (relative to the working folder); None when there is none."""
    if os.environ.get(FER2013_DIR):
        return os.environ[FER2013_DIR]
    return next((candidate for candidate in DEFAULT_DATA if os.path.exists(candidate)), None)


NO_FER2013 = ("FER-2013 was not found in data/fer2013 (Kaggle folders) or data/fer2013.csv, and $FER2013_DIR is "
              "not set")
GET_FER = (f"{NO_FER2013}. Get it from https://www.kaggle.com/datasets/msambare/fer2013 (folders) or the original "
           "challenge's fer2013.csv, and put it there (see data/README.md). Training on the built-in demo faces instead.")


def resolve_data(config, log):
    """--data, else FER-2013 where data.default_data finds it, else the demo faces (saying where to get it)."""
    data = config.data or default_data()
    if data is None:
        log(GET_FER)
    return data or "demo"


def load_dataset(path, skip_bad=False, val_fraction=0.1, seed=0, use_cache=True, cache_dir=None, log=print,
                 detector=DEFAULT_DETECTOR, labels="fer2013", ferplus_mix=1.0):
    """Load any supported layout; the first load of a path writes a compressed cache that later loads reuse.
    ``detector`` finds the faces in a class-folder tree's photos ("yunet" or "haar").  ``labels="ferplus"``
    takes the labels from FER+'s crowd votes beside the data (fer_app/ferplus.py): each split's labels become
    the crowd's choice, faces the crowd calls no face or unknown are left out, and each split's ``targets``
    are ``ferplus_mix`` × the vote shares + (1 − ``ferplus_mix``) × FER-2013's label."""
    if labels not in LABEL_SOURCES:
        raise ValueError(f"labels must be one of {LABEL_SOURCES}, got {labels!r}")
    layout = detect_layout(path)
    votes = ferplus.read_votes(ferplus.votes_file(path, layout)) if labels == "ferplus" else None
    splits = _load_faces(path, layout, skip_bad, val_fraction, seed, use_cache, cache_dir, log, detector)
    if votes is not None:
        for name, split in splits.items():
            faces, fer2013 = split
            keep, crowd, targets = ferplus.relabel(votes, split.keys, fer2013, ferplus_mix)
            splits[name] = Split(faces[keep], crowd, split.keys[keep], targets)
            if not keep.all():
                log(f"FER+ labels: {name}: left out {int((~keep).sum())} of {len(keep)} faces the crowd calls "
                    f"no face or unknown")
    return splits


def _load_faces(path, layout, skip_bad, val_fraction, seed, use_cache, cache_dir, log, detector):
    """The splits with the labels the layout gives, from the cache when it has them."""
    options = dict(layout=layout, skip_bad=skip_bad, val_fraction=val_fraction, seed=seed,
                   **({"detector": detector} if layout == "tree" else {}))
    cache = Path(cache_dir or default_cache_dir()) / f"{Path(path).name}-{_fingerprint(path, options)}.npz"
    if use_cache and cache.is_file():
        splits = read_cache(cache)
        if splits:
            return splits
        log(f"warning: the cache {cache} is damaged; reading {path} again")
    report = Report()
    if layout == "csv":
        splits = load_csv(path, skip_bad, report)
        if "val" not in splits and "train" in splits:
            splits["train"], splits["val"] = stratified_split(splits["train"], val_fraction, seed)
    elif layout == "kaggle":
        splits = load_kaggle_folders(path, skip_bad, val_fraction, seed, report)
    else:
        splits = load_class_tree(path, skip_bad, val_fraction, seed, report, detector)
    for line in report.lines():
        log(line)
    if not any(len(y) for _, y in splits.values()):
        raise DataError(f"{path}: no images found")
    if use_cache:
        arrays = {f"{s}_{k}": v for s, split in splits.items() for k, v in zip(("x", "y", "keys"), (*split, split.keys))}
        try:
            atomic_savez(cache, arrays)
        except OSError as e:
            log(f"warning: could not write the cache {cache}: {e}")
    return splits


def read_cache(cache):
    """The splits a cache file holds, or None when it is unreadable or holds anything but faces and labels."""
    try:
        arrays = read_npz(cache)
    except ModelFileError:
        return None
    splits = {}
    for s in ("train", "val", "test"):
        x, y = arrays.get(f"{s}_x"), arrays.get(f"{s}_y")
        if x is None and y is None:
            continue
        if x is None or y is None or x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (FACE_SIZE, FACE_SIZE) \
                or y.dtype != np.int64 or y.shape != (len(x),) or (len(y) and not 0 <= y.min() <= y.max() < len(CLASSES)):
            return None
        keys = arrays.get(f"{s}_keys")
        if keys is None or keys.dtype.kind != "U" or keys.shape != y.shape:
            return None
        splits[s] = Split(x, y, keys)
    return splits or None


def describe(splits):
    parts = []
    for name in ("train", "val", "test"):
        if name in splits:
            counts = np.bincount(splits[name][1], minlength=len(CLASSES))
            parts.append(f"{name} {len(splits[name][1])} (" + ", ".join(f"{c} {n}" for c, n in zip(CLASSES, counts)) + ")")
    return "; ".join(parts)
