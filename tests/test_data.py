"""Dataset loaders on small data the tests write themselves; FER-2013 itself when it is present."""
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_app import CLASSES
from fer_app.checks import DataError
from fer_app.data import load_dataset, read_cache
from fer_app.labels import class_id

from .helpers import ROOT, pixels, write_csv

# FER-2013 in the Kaggle layout: $FER2013_DIR, else data/fer2013 in the project
FER_DIR = Path(os.environ.get("FER2013_DIR") or Path(__file__).resolve().parents[1] / "data" / "fer2013")


@pytest.mark.parametrize("gz", [False, True])
def test_csv_splits(tmp_path, gz):
    rng = np.random.default_rng(0)
    rows = [(i % 7, pixels(rng), u) for i, u in enumerate(["Training"] * 14 + ["PublicTest"] * 7 + ["PrivateTest"] * 3)]
    path = write_csv(tmp_path / ("f.csv.gz" if gz else "f.csv"), rows, gz)
    splits = load_dataset(path, use_cache=False)
    assert {k: len(v[1]) for k, v in splits.items()} == {"train": 14, "val": 7, "test": 3}
    faces, labels = splits["train"]
    assert faces.shape == (14, 48, 48) and faces.dtype == np.uint8
    assert labels.tolist() == [i % 7 for i in range(14)]
    assert faces[1].reshape(-1).tolist() == [int(v) for v in rows[1][1].split()]


@pytest.mark.parametrize("bad_row,message", [
    ((3, "1 2 3", "Training"), "line 3: expected 2304 pixel values, got 3"),
    (("x", None, "Training"), "line 3: emotion or pixels is not a number"),
    ((3, None, "Validation"), "line 3: unknown Usage 'Validation'"),
])
def test_csv_bad_rows_are_named_and_skippable(tmp_path, bad_row, message):
    rng = np.random.default_rng(1)
    good = (0, pixels(rng), "Training")
    bad = (bad_row[0], bad_row[1] or pixels(rng), bad_row[2])
    path = write_csv(tmp_path / "f.csv", [good, bad, good])
    with pytest.raises(DataError, match=message):
        load_dataset(path, use_cache=False)
    lines = []
    splits = load_dataset(path, skip_bad=True, use_cache=False, log=lines.append)
    assert sum(len(labels) for _, labels in splits.values()) == 2     # val is carved from train
    assert any("skipped 1 bad item" in line for line in lines)


def write_png(path, rng, shape=(48, 48)):
    """Write a random uint8 image of `shape` to `path` (format from the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), rng.integers(0, 256, shape, dtype=np.uint8))


def test_kaggle_layout_with_public_and_private_test(tmp_path):
    rng = np.random.default_rng(2)
    for c in ("angry", "happy"):
        for i in range(4):
            write_png(tmp_path / "train" / c / f"Training_{i}.png", rng)
        write_png(tmp_path / "test" / c / "PublicTest_1.png", rng)
        write_png(tmp_path / "test" / c / "PrivateTest_1.png", rng)
    splits = load_dataset(tmp_path, use_cache=False)
    assert {k: len(v[1]) for k, v in splits.items()} == {"train": 8, "val": 2, "test": 2}
    assert sorted(splits["val"][1].tolist()) == [CLASSES.index("angry"), CLASSES.index("happy")]


def test_kaggle_layout_without_named_test_files_carves_val(tmp_path):
    rng = np.random.default_rng(3)
    for c in ("sad", "fear"):
        for i in range(10):
            write_png(tmp_path / "train" / c / f"{i}.png", rng)
        write_png(tmp_path / "test" / c / "a.png", rng)
    splits = load_dataset(tmp_path, val_fraction=0.2, use_cache=False)
    assert {k: len(v[1]) for k, v in splits.items()} == {"train": 16, "val": 4, "test": 2}
    assert np.bincount(splits["val"][1]).max() == 2          # stratified: 2 of each class


def test_class_tree_mixed_sizes_colours_synonyms_and_crop_fallback(tmp_path):
    rng = np.random.default_rng(4)
    write_png(tmp_path / "Happiness" / "a.png", rng, (120, 90, 3))
    write_png(tmp_path / "Happiness" / "b.jpg", rng, (30, 40))
    write_png(tmp_path / "anger" / "c.png", rng, (64, 64, 4))
    write_png(tmp_path / "anger" / "d.bmp", rng, (200, 300, 3))
    lines = []
    splits = load_dataset(tmp_path, val_fraction=0.5, use_cache=False, log=lines.append)
    faces = np.concatenate([splits["train"][0], splits["val"][0]])
    labels = np.concatenate([splits["train"][1], splits["val"][1]])
    assert faces.shape == (4, 48, 48) and faces.dtype == np.uint8
    assert sorted(labels.tolist()) == sorted([CLASSES.index("happy")] * 2 + [CLASSES.index("angry")] * 2)
    assert any("no face found in 4 image(s): used a centre crop" in line for line in lines)


def test_class_tree_errors(tmp_path):
    rng = np.random.default_rng(5)
    write_png(tmp_path / "happy" / "ok.png", rng)
    write_png(tmp_path / "happy" / "ok2.png", rng)
    (tmp_path / "happy" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(DataError, match=r"broken\.png.*not a readable image"):
        load_dataset(tmp_path, use_cache=False)
    lines = []
    splits = load_dataset(tmp_path, skip_bad=True, use_cache=False, log=lines.append)
    assert sum(len(v[1]) for v in splits.values()) == 2 and any("skipped 1" in line for line in lines)
    (tmp_path / "bored").mkdir()
    write_png(tmp_path / "bored" / "x.png", rng)
    with pytest.raises(DataError, match=r"bored: unknown class name 'bored'"):
        load_dataset(tmp_path, skip_bad=True, use_cache=False)
    empty = tmp_path / "other"
    (empty / "sad").mkdir(parents=True)
    with pytest.raises(DataError, match="empty class folder"):
        load_dataset(empty, use_cache=False)
    with pytest.raises(DataError, match="no such file or folder"):
        load_dataset(tmp_path / "nowhere", use_cache=False)


def test_class_names_and_synonyms():
    assert [class_id(n) for n in ("ANGRY", "Disgusted", "scared", "joy", "Sadness", "surprised", "neutral")] == \
        list(range(7))
    assert CLASSES == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def test_cache_is_reused_and_invalidated(tmp_path):
    rng = np.random.default_rng(6)
    path = write_csv(tmp_path / "f.csv", [(1, pixels(rng), "Training"), (2, pixels(rng), "PublicTest")])
    cache = tmp_path / "cache"
    first = load_dataset(path, cache_dir=cache)
    assert len(list(cache.glob("*.npz"))) == 1
    again = load_dataset(path, cache_dir=cache)
    assert np.array_equal(first["train"][0], again["train"][0])
    write_csv(path, [(3, pixels(rng), "Training"), (2, pixels(rng), "PublicTest"), (4, pixels(rng), "Training")])
    changed = load_dataset(path, cache_dir=cache)
    assert changed["train"][1].tolist() == [3, 4] and len(list(cache.glob("*.npz"))) == 2


@pytest.mark.skipif(not FER_DIR.is_dir(), reason=f"FER-2013 not found at {FER_DIR} (set FER2013_DIR, or see "
                                                 f"data/README.md)")
def test_shared_fer2013_split_sizes_and_class_counts(tmp_path):
    splits = load_dataset(FER_DIR, cache_dir=tmp_path)
    assert len(splits["train"][1]) == 28709 and len(splits["val"][1]) == 3589 and "test" not in splits
    counts = dict(zip(CLASSES, np.bincount(splits["train"][1], minlength=7).tolist()))
    assert counts == {"angry": 3995, "disgust": 436, "fear": 4097, "happy": 7215, "sad": 4830,
                      "surprise": 3171, "neutral": 4965}


@pytest.mark.parametrize("damage", ["truncated", "garbage", "wrong arrays"])
def test_a_damaged_cache_is_rebuilt_not_fatal(tmp_path, damage):
    rng = np.random.default_rng(7)
    path = write_csv(tmp_path / "f.csv", [(1, pixels(rng), "Training"), (2, pixels(rng), "PublicTest")])
    cache = tmp_path / "cache"
    first = load_dataset(path, cache_dir=cache)
    (cached,) = cache.glob("*.npz")
    if damage == "truncated":
        cached.write_bytes(cached.read_bytes()[:100])
    elif damage == "garbage":
        cached.write_bytes(b"PK\x03\x04 not really a zip")
    else:
        np.savez(cached, train_x=np.zeros((1, 5, 5), np.uint8), train_y=np.zeros(1, np.int64))
    said = []
    again = load_dataset(path, cache_dir=cache, log=said.append)
    assert np.array_equal(first["train"][0], again["train"][0]) and np.array_equal(first["val"][1], again["val"][1])
    assert len(said) == 1 and "is damaged; reading" in said[0]
    assert read_cache(cached) is not None          # written afresh


# ---------------------------------------------------------------- FER+ crowd labels

def write_votes(path, rows, keyed=True):
    """A FER+ votes file: rows of (key, ten votes) — ferplus.csv with a file column, or fer2013new.csv."""
    head = ["file", "match"] if keyed else ["Usage", "Image name"]
    columns = "neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
    lines = [",".join(head) + "," + columns]
    lines += [",".join([key, "x"] + [str(v) for v in votes]) for key, votes in rows]
    path.write_text("\n".join(lines) + "\n")


#            neutral happy surprise sad anger disgust fear contempt unknown NF
VOTES = {"angry": [0, 0, 0, 2, 6, 0, 0, 2, 0, 0],        # the crowd agrees, contempt counts as disgust
         "fear": [1, 0, 5, 0, 0, 0, 4, 0, 0, 0],         # the crowd says surprise
         "happy": [0, 2, 0, 0, 0, 0, 0, 0, 0, 8]}        # not a face: left out



def test_the_crowd_agreed_copy_leaves_out_only_training_faces_whose_label_the_crowd_clearly_rejects(tmp_path):
    rng = np.random.default_rng(9)
    data, rows = tmp_path / "fer2013", []
    #            neutral happy surprise sad anger disgust fear contempt unknown NF
    for key, votes in (("train/angry/Training_1.png", [8, 0, 0, 0, 1, 0, 0, 0, 1, 0]),   # 11 % angry, 89 % neutral: out
                       ("train/fear/Training_2.png", [5, 0, 4, 0, 0, 0, 1, 0, 0, 0]),    # 10 % fear, but no 60 %: kept
                       ("train/disgust/Training_3.png", [0, 0, 0, 0, 2, 1, 0, 7, 0, 0]),  # contempt is disgust: kept
                       ("train/sad/Training_4.png", [0, 9, 0, 1, 0, 0, 0, 0, 0, 0]),      # 10 % sad, 90 % happy: out
                       ("test/angry/PublicTest_5.png", [9, 0, 0, 0, 1, 0, 0, 0, 0, 0])):  # a test face: always kept
        write_png(data / key, rng)
        rows.append((key, votes))
    write_votes(data / "ferplus.csv", rows)
    out = tmp_path / "agreed"
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "fer2013_crowd_agreed.py"), str(data), str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "without 2 training faces" in done.stdout and "angry 1" in done.stdout and "sad 1" in done.stdout
    kept = sorted(p.relative_to(out).as_posix() for p in (out / "train").rglob("*.png"))
    assert kept == ["train/disgust/Training_3.png", "train/fear/Training_2.png"]
    assert (out / "test" / "angry" / "PublicTest_5.png").is_file()
    splits = load_dataset(out, cache_dir=tmp_path / "cache")
    assert [CLASSES[c] for c in splits["train"][1]] == ["disgust", "fear"]         # labels as FER-2013 gives them
    again = subprocess.run([sys.executable, str(ROOT / "tools" / "fer2013_crowd_agreed.py"), str(data), str(out)],
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and again.stderr.strip() == f"{out}: exists already; name a new folder"

def test_ferplus_labels_from_a_kaggle_folder(tmp_path):
    rng = np.random.default_rng(8)
    rows = []
    for c, votes in VOTES.items():
        for split, name in (("train", "Training_1.png"), ("test", "PublicTest_1.png")):
            write_png(tmp_path / split / c / name, rng)
            rows.append((f"{split}/{c}/{name}", votes))
    write_votes(tmp_path / "ferplus.csv", rows)
    said = []
    splits = load_dataset(tmp_path, cache_dir=tmp_path / "cache", labels="ferplus", ferplus_mix=1.0,
                          log=said.append)
    train = splits["train"]
    assert train.keys.tolist() == ["train/angry/Training_1.png", "train/fear/Training_1.png"]
    assert [CLASSES[c] for c in train[1]] == ["angry", "surprise"]
    assert np.allclose(train.targets[0], [0.6, 0.2, 0, 0, 0.2, 0, 0])        # angry, disgust (contempt), sad
    assert np.allclose(train.targets[1], [0, 0, 0.4, 0, 0, 0.5, 0.1])        # fear, surprise, neutral
    assert said == ["FER+ labels: train: left out 1 of 3 faces the crowd calls no face or unknown",
                    "FER+ labels: val: left out 1 of 3 faces the crowd calls no face or unknown"]
    mixed = load_dataset(tmp_path, cache_dir=tmp_path / "cache", labels="ferplus", ferplus_mix=0.25, log=said.append)
    assert np.allclose(mixed["train"].targets[1], [0, 0, 0.75 + 0.1, 0, 0, 0.125, 0.025])
    assert [CLASSES[c] for c in mixed["train"][1]] == ["angry", "fear"]     # most of the target is FER-2013's
    own = load_dataset(tmp_path, cache_dir=tmp_path / "cache")              # the cached faces, FER-2013's labels
    assert [CLASSES[c] for c in own["train"][1]] == ["angry", "fear", "happy"] and own["train"].targets is None


def test_ferplus_labels_from_fer2013new_beside_the_csv(tmp_path):
    rng = np.random.default_rng(9)
    labels = [CLASSES.index(c) for c in VOTES]
    path = write_csv(tmp_path / "fer2013.csv", [(y, pixels(rng), u) for u in ("Training", "PublicTest")
                                                 for y in labels])
    write_votes(tmp_path / "fer2013new.csv", [("", v) for _ in range(2) for v in VOTES.values()], keyed=False)
    splits = load_dataset(path, use_cache=False, labels="ferplus", log=lambda line: None)
    assert [CLASSES[c] for c in splits["val"][1]] == ["angry", "surprise"]
    assert splits["val"].keys.tolist() == ["3", "4"]


def test_ferplus_labels_need_their_votes(tmp_path):
    rng = np.random.default_rng(10)
    write_png(tmp_path / "train" / "sad" / "Training_1.png", rng)
    write_png(tmp_path / "train" / "sad" / "Training_2.png", rng)
    with pytest.raises(DataError, match=r"ferplus.csv: not found; --labels ferplus reads"):
        load_dataset(tmp_path, use_cache=False, labels="ferplus")
    write_votes(tmp_path / "ferplus.csv", [("train/sad/Training_1.png", VOTES["angry"])])
    with pytest.raises(DataError, match=r"no row for train/sad/Training_2.png \(1 face"):
        load_dataset(tmp_path, use_cache=False, labels="ferplus")
    write_votes(tmp_path / "ferplus.csv", [("train/sad/Training_1.png", ["x"] * 10)])
    with pytest.raises(DataError, match=r"ferplus.csv line 2: the votes are not numbers"):
        load_dataset(tmp_path, use_cache=False, labels="ferplus")
    (tmp_path / "photos" / "sad").mkdir(parents=True)
    with pytest.raises(DataError, match=r"FER\+ labels exist for FER-2013 only"):
        load_dataset(tmp_path / "photos", use_cache=False, labels="ferplus")


@pytest.mark.skipif(not (FER_DIR / "ferplus.csv").is_file(),
                    reason=f"FER-2013 with FER+'s ferplus.csv not found at {FER_DIR} (set FER2013_DIR)")
def test_shared_fer2013_ferplus_labels_agree_as_its_readme_says(tmp_path):
    own = load_dataset(FER_DIR, cache_dir=tmp_path)
    crowd = load_dataset(FER_DIR, cache_dir=tmp_path, labels="ferplus", log=lambda line: None)
    keep = np.isin(own["train"].keys, crowd["train"].keys)
    fer2013 = own["train"][1][keep]
    same = crowd["train"][1] == fer2013
    agree = {c: same[fer2013 == i].mean() for i, c in enumerate(CLASSES)}
    # the README's figures (Training + PublicTest, faces of every kind): happy 92 %, fear 13 %
    assert agree["happy"] > 0.9 and agree["fear"] < 0.2 and 0.4 < agree["angry"] < 0.55
    assert np.allclose(crowd["train"].targets.sum(axis=1), 1, atol=1e-6)
