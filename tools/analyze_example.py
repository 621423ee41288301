"""The worked example of docs/analyze.md: a clip of real faces whose expression changes, through fer_app.analyze.

    python3 tools/analyze_example.py ../shared/data/fer2013 /tmp/analyze_example

Builds a 42-second clip (640×360, 25 fps): two people side by side, each a sequence of FER-2013 PublicTest
faces (real photographs), 3 seconds per face, enlarged to 200 pixels; the left one goes neutral → happy →
surprise → sad → angry → fear → neutral, the right one happy → neutral → sad → happy, its faces chosen among
those the shipped model gets right.  Then ``python -m fer_app.analyze`` on it with the defaults, and the
timeline picture it draws is copied to docs/images/analyze_timeline.png.  No dataset file is kept.
"""
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fer_app.analyze import output_name  # noqa: E402
from fer_app.classifier import ExpressionClassifier  # noqa: E402
from fer_app.data import load_dataset  # noqa: E402
from fer_app.labels import CLASSES  # noqa: E402

FPS, SECONDS_EACH, SIDE = 25, 3, 200
LEFT = ["neutral", "happy", "happy", "surprise", "sad", "sad", "angry", "angry", "fear", "neutral", "neutral",
        "happy", "surprise", "neutral"]
RIGHT = ["happy", "happy", "neutral", "neutral", "sad", "sad", "happy", "happy", "neutral", "surprise", "surprise",
         "happy", "neutral", "neutral"]


def confident_faces(data):
    """PublicTest faces by class, each one the shipped model calls right with probability over 0.6."""
    faces, labels = load_dataset(data, log=lambda *a: None)["val"][:2]
    probs = ExpressionClassifier().predict_proba(faces, tta=None, classes=CLASSES)
    good = (probs.argmax(1) == labels) & (probs.max(1) > 0.6)
    return {c: faces[good & (labels == i)] for i, c in enumerate(CLASSES)}


def main(data, work):
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    by_class = confident_faces(data)
    rng = np.random.default_rng(1)
    clip = work / "two_people.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (640, 360))
    for left, right in zip(LEFT, RIGHT):
        people = [cv2.resize(by_class[c][rng.integers(len(by_class[c]))], (SIDE, SIDE), interpolation=cv2.INTER_CUBIC)
                  for c in (left, right)]
        for t in range(SECONDS_EACH * FPS):
            frame = np.full((360, 640, 3), 90, np.uint8)
            for k, face in enumerate(people):
                x, y = 60 + 320 * k + int(6 * np.sin(t / 9 + k)), 80 + int(4 * np.cos(t / 7))
                frame[y:y + SIDE, x:x + SIDE] = face[:, :, None]
            writer.write(frame)
    writer.release()
    out = work / "results"
    shutil.rmtree(out, ignore_errors=True)          # a fresh run, not the resumption of an earlier one
    subprocess.run([sys.executable, "-m", "fer_app.analyze", str(clip), "--out", str(out)], cwd=ROOT, check=True)
    shutil.copy(out / f"{output_name(clip)}.timeline.png", ROOT / "docs" / "images" / "analyze_timeline.png")
    print((out / f"{output_name(clip)}.tracks.csv").read_text())


if __name__ == "__main__":
    main(*sys.argv[1:3])
