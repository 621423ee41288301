"""FER+ crowd labels for FER-2013 (Barsoum et al., ICMI 2016): ten annotators' votes for each face.

FER-2013's own labels are noisy exactly where recognizers fail: the crowd's majority agrees with them on
92 % of happy faces but on 47 % of angry, 31 % of disgust and 13 % of fear faces.  The votes cover ten
categories; the seven classes take theirs (contempt counts as disgust, as labels.SYNONYMS reads it), and
"unknown" and "NF" (not a face) only decide which faces are left out.

For a face with emotion votes v (7,), FER-2013 label y and mix m:

    shares  = v / Σ v                                   the crowd's distribution over the seven classes
    target  = m · shares + (1 − m) · onehot(y)          what training fits (soft cross-entropy)
    label   = argmax target, ties going to y            what accuracy and class weights count
    kept    when max v > max(votes for unknown, votes for NF)

Where the votes are found: ``ferplus.csv`` inside a Kaggle-layout folder (a ``file`` column, relative to
the folder, then the ten vote columns), or FER+'s own ``fer2013new.csv`` beside ``fer2013.csv`` (its rows
in the same order as fer2013.csv's).
"""
import csv
from pathlib import Path

import numpy as np

from .checks import DataError
from .labels import CLASSES

VOTE_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt",
                "unknown", "NF")
CLASS_OF_VOTE = {"anger": "angry", "disgust": "disgust", "contempt": "disgust", "fear": "fear",
                 "happiness": "happy", "sadness": "sad", "surprise": "surprise", "neutral": "neutral"}
FOLDER_FILE, CSV_FILE = "ferplus.csv", "fer2013new.csv"


def votes_file(data, layout):
    """Where the votes for the dataset at ``data`` (of detect_layout's ``layout``) lie; DataError if absent."""
    data = Path(data)
    if layout == "kaggle":
        path = data / FOLDER_FILE
    elif layout == "csv":
        path = data.parent / CSV_FILE
    else:
        raise DataError(f"{data}: FER+ labels exist for FER-2013 only (Kaggle folders with {FOLDER_FILE}, or "
                        f"fer2013.csv with FER+'s {CSV_FILE} beside it)")
    if not path.is_file():
        raise DataError(f"{path}: not found; --labels ferplus reads the FER+ votes from there (FER+: "
                        f"github.com/microsoft/FERPlus, fer2013new.csv)")
    return path


def read_votes(path):
    """{key: the ten votes as int64 (10,)}: key is the ``file`` column, or for fer2013new.csv the data row."""
    try:
        with open(path, newline="") as f:
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            missing = [c for c in VOTE_COLUMNS if c not in header]
            if missing:
                raise DataError(f"{path}: no column(s) {', '.join(missing)} (expected FER+'s ten vote columns)")
            columns = [header.index(c) for c in VOTE_COLUMNS]
            keyed = "file" in header
            votes = {}
            for row_no, row in enumerate(reader):
                try:
                    counts = np.array([int(float(row[c])) for c in columns], dtype=np.int64)
                except (ValueError, IndexError):
                    raise DataError(f"{path} line {row_no + 2}: the votes are not numbers") from None
                if counts.min() < 0:
                    raise DataError(f"{path} line {row_no + 2}: a negative vote count")
                votes[row[header.index("file")] if keyed else str(row_no)] = counts
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: cannot read the CSV: {e}") from None
    return votes


def class_votes(counts):
    """The ten vote columns (N, 10) → votes for the seven classes (N, 7) and for unknown or NF, the larger."""
    by_class = np.zeros((len(counts), len(CLASSES)), np.int64)
    for column, name in enumerate(VOTE_COLUMNS[:8]):
        by_class[:, CLASSES.index(CLASS_OF_VOTE[name])] += counts[:, column]
    return by_class, counts[:, 8:].max(axis=1)


def relabel(votes, keys, labels, mix):
    """(kept mask (N,), the crowd's labels of the kept faces, their float32 targets (kept, 7)) for the faces
    ``keys`` with FER-2013 ``labels``; see the module's equations."""
    if keys is None:
        raise DataError("FER+ labels need faces whose files or CSV rows are known (FER-2013 as Kaggle folders "
                        "or fer2013.csv)")
    missing = [k for k in keys if k not in votes]
    if missing:
        raise DataError(f"the FER+ votes have no row for {missing[0]} ({len(missing)} face(s) without one)")
    counts = np.stack([votes[k] for k in keys]) if len(keys) else np.zeros((0, len(VOTE_COLUMNS)), np.int64)
    by_class, other = class_votes(counts)
    keep = by_class.max(axis=1, initial=0) > other
    by_class, fer2013 = by_class[keep], labels[keep]
    onehot = np.eye(len(CLASSES))[fer2013]
    targets = mix * by_class / by_class.sum(axis=1, keepdims=True) + (1 - mix) * onehot
    crowd = (targets + 1e-6 * onehot).argmax(axis=1).astype(np.int64)
    return keep, crowd, targets.astype(np.float32)
