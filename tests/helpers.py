"""Small shared helpers for the fer_app tests."""
import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import fer_app.labels

from fer_app import models
from fer_app.demo import demo_splits
from fer_app.preprocess import Preprocessing
from minicnn import Sequential
from minicnn import layers as L

CLASSES = list(fer_app.labels.CLASSES)


ROOT = Path(__file__).resolve().parents[1]
ENV = dict({k: v for k, v in os.environ.items() if k != "FER2013_DIR"}, PYTHONUNBUFFERED="1",   # see conftest.py
           PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


def run_module(module, *args, timeout=300, cwd=ROOT):
    """Run ``python -m module args`` single-threaded (from the project root by default); the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=ENV, cwd=cwd)


def start_module(module, *args):
    """The same, in the background: a Popen with stdout and stderr merged."""
    return subprocess.Popen([sys.executable, "-m", module, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=ENV, cwd=ROOT)


def constant_model(path, favourite, runner_up=None):
    """A model that ignores its input and always predicts class ``favourite`` (``runner_up`` next)."""
    dense = L.Dense(48 * 48, 7)
    dense.params["weight"][...] = 0
    dense.params["bias"][...] = 0
    dense.params["bias"][favourite] = 5
    if runner_up is not None:
        dense.params["bias"][runner_up] = 2
    Sequential([L.Flatten(), dense]).save(path, metadata={"classes": CLASSES,
                                                          "preprocessing": Preprocessing().to_dict()})
    return path


def untrained_model(path, seed=0):
    models.build("tiny", np.random.default_rng(seed)).save(
        path, metadata={"classes": CLASSES, "preprocessing": Preprocessing().to_dict()})
    return path


def pixels(rng):
    """One random 48×48 face as a FER-2013 CSV row spells it: 2,304 grey levels separated by spaces."""
    return " ".join(map(str, rng.integers(0, 256, 48 * 48)))


def small_fer2013_csv(path, per_class=150):
    """A fer2013.csv of demo faces, ``per_class`` of each class to train on and a fifth as many to validate;
    its path.  Epochs a third as long as the demo's, for tests of what a run does rather than what it learns."""
    rows, splits = [], demo_splits()
    for split, usage, n in (("train", "Training", per_class), ("val", "PublicTest", per_class // 5)):
        faces, labels = splits[split]
        for k in range(len(CLASSES)):
            rows += [(k, " ".join(map(str, face.ravel())), usage) for face in faces[labels == k][:n]]
    return write_csv(path, rows)


def write_csv(path, rows, gz=False):
    """A fer2013.csv (gzipped with ``gz``) of (emotion, pixels, Usage) rows; its path."""
    text = "emotion,pixels,Usage\n" + "".join(f"{e},{p},{u}\n" for e, p, u in rows)
    if gz:
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path
