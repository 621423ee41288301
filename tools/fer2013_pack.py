"""FER-2013's Training and PublicTest faces in 55 MB, to carry to a lent GPU machine, and back into the Kaggle
folder layout there (the device tool carries at most 64 MiB with the working tree; the PNG folders are larger).

    python3 tools/fer2013_pack.py pack ../shared/data/fer2013 .devdata      # here (about 75 s)
    python3 tools/fer2013_pack.py unpack .devdata /tmp/fer2013               # there (about 10 s)

The folder it packs into must be one git ignores (never commit data): ``echo /.devdata/ >> .git/info/exclude``.
"""
import lzma
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fer_app.data import load_dataset  # noqa: E402
from fer_app.labels import CLASSES  # noqa: E402

SPLITS = (("train", "train", "Training"), ("val", "test", "PublicTest"))     # split, Kaggle folder, file prefix


def pack(data, folder):
    splits = load_dataset(data)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "labels.npz", **{split: splits[split][1] for split, _, _ in SPLITS})
    faces = b"".join(splits[split][0].tobytes() for split, _, _ in SPLITS)
    (folder / "faces.xz").write_bytes(lzma.compress(faces))


def unpack(folder, root):
    labels = np.load(folder / "labels.npz", allow_pickle=False)
    faces = np.frombuffer(lzma.decompress((folder / "faces.xz").read_bytes()), np.uint8).reshape(-1, 48, 48)
    start = 0
    for split, kaggle_folder, prefix in SPLITS:
        for name in CLASSES:
            (root / kaggle_folder / name).mkdir(parents=True, exist_ok=True)
        ys = labels[split]
        for i, (face, y) in enumerate(zip(faces[start:start + len(ys)], ys)):
            cv2.imwrite(str(root / kaggle_folder / CLASSES[y] / f"{prefix}_{i:05d}.png"), face)
        start += len(ys)
    print(f"{root}: " + ", ".join(f"{kaggle_folder} {len(labels[split])}" for split, kaggle_folder, _ in SPLITS))


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("pack", "unpack"):
        sys.exit(__doc__)
    (pack if sys.argv[1] == "pack" else unpack)(Path(sys.argv[2]), Path(sys.argv[3]))
