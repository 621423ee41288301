"""A copy of a Kaggle-layout FER-2013 folder without the training faces whose label FER+'s crowd clearly rejects:
the ninth step of the shipped model trained on it (docs/model.md).

    python3 tools/fer2013_crowd_agreed.py ../shared/data/fer2013 /tmp/fer2013-agreed

A training face is left out when its FER-2013 label has under 15 % of the crowd's votes for the seven classes
and another class has 60 % or more (contempt counts as disgust, as fer_app/ferplus.py reads the votes):

    leave out  ⇔  v[y] / Σ v < 0.15  and  max v / Σ v ≥ 0.6

Everything else is kept as it is — the labels are never changed, the test faces all kept — so the copy is
FER-2013 with its clearest mislabellings taken out (4,720 of 28,709 faces: 48 % of fear, a quarter of angry, a
fifth of sad, 14 % of disgust, 3–7 % of the others).  The copy holds symbolic links to the original files, so it takes no space; the
folder it writes must not exist yet.
"""
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fer_app.ferplus import FOLDER_FILE, class_votes, read_votes  # noqa: E402
from fer_app.labels import CLASSES  # noqa: E402

OWN_SHARE_BELOW, OTHER_SHARE_AT_LEAST = 0.15, 0.6


def rejected(votes, labels):
    """Mask of the faces whose label the crowd clearly rejects, from their ten vote columns (N, 10) and labels."""
    by_class, _ = class_votes(votes)
    total = np.maximum(by_class.sum(axis=1), 1)
    own = by_class[np.arange(len(labels)), labels] / total
    return (own < OWN_SHARE_BELOW) & (by_class.max(axis=1) / total >= OTHER_SHARE_AT_LEAST)


def copy_without_rejected(data, out):
    """Write the copy; the number of training faces left out, per class."""
    data, out = Path(data).resolve(), Path(out)
    votes = read_votes(data / FOLDER_FILE)
    keys = sorted(k for k in votes if k.startswith("train/"))
    labels = np.array([CLASSES.index(key.split("/")[1]) for key in keys])
    drop = rejected(np.stack([votes[k] for k in keys]), labels)
    out.mkdir(parents=True)
    for key in np.asarray(keys)[~drop]:
        (out / key).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(data / key, out / key)
    for name in ("test", FOLDER_FILE):
        os.symlink(data / name, out / name)
    return np.bincount(labels[drop], minlength=len(CLASSES))


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__.split("\n\n")[1].strip())
    data, out = argv
    if not (Path(data) / FOLDER_FILE).is_file():
        sys.exit(f"{data}: no {FOLDER_FILE} there (FER-2013 in the Kaggle layout with FER+'s votes)")
    if Path(out).exists():
        sys.exit(f"{out}: exists already; name a new folder")
    left_out = copy_without_rejected(data, out)
    print(f"{out}: FER-2013 without {left_out.sum()} training faces the crowd reads as another expression ("
          + ", ".join(f"{c} {n}" for c, n in zip(CLASSES, left_out)) + ")")


if __name__ == "__main__":
    main(sys.argv[1:])
