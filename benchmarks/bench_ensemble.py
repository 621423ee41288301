"""Accuracy and per-face latency of models, their ensembles and test-time views, as one table.

    python benchmarks/bench_ensemble.py --data ../shared/data/fer2013 --models A.npz B.npz C.npz [--tta none crops]

Each model (a file fer_app.train or fer_app.ensemble wrote) classifies the split once per TTA kind; an ensemble
of the first k models (k = 2 … n, in the order given) is the mean of their probabilities, exactly what
``python -m fer_app.ensemble --models <the k files>`` then ``fer_app.evaluate`` computes.  The latency is the
median time to classify one face (batch of 1, the way live video classifies), summed over an ensemble's members.
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from fer_app.classifier import ExpressionClassifier  # noqa: E402
from fer_app.data import NO_FER2013, default_data, load_dataset  # noqa: E402
from fer_app.demo import demo_splits  # noqa: E402
from fer_app.labels import CLASSES  # noqa: E402

TTA = {"none": None, "mirror": "mirror", "crops": "crops"}


def one_face_ms(classifier, face, tta, repeats):
    classifier.predict_proba(face, tta=tta)                  # warm-up: kernels compiled, buffers allocated
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        classifier.predict_proba(face, tta=tta)
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=default_data(), help="dataset path, as for fer_app.train, or 'demo' (default: "
                                                          "$FER2013_DIR, else data/fer2013)")
    p.add_argument("--split", default="val", help="which split (default: val, FER-2013's PublicTest)")
    p.add_argument("--models", nargs="+", required=True, help="model files, in the order ensembles grow")
    p.add_argument("--tta", nargs="+", choices=sorted(TTA), default=["none", "mirror", "crops"])
    p.add_argument("--repeats", type=int, default=30, help="single-face timings per model and TTA kind")
    args = p.parse_args()
    if args.data is None:
        p.error(f"{NO_FER2013}: give --data PATH (or demo)")

    splits = demo_splits() if args.data == "demo" else load_dataset(args.data)
    faces, labels = splits[args.split]
    probs, ms = {}, {}
    for path in args.models:
        classifier = ExpressionClassifier(path)
        for kind in args.tta:
            probs[path, kind] = classifier.predict_proba(faces, tta=TTA[kind], classes=CLASSES)
            ms[path, kind] = one_face_ms(classifier, faces[:1], TTA[kind], args.repeats)
            print(f"{path} [{kind}]: {100 * (probs[path, kind].argmax(1) == labels).mean():.2f} %, "
                  f"{ms[path, kind]:.1f} ms per face", flush=True)

    rows = [(Path(path).name, [path]) for path in args.models]
    rows += [(f"ensemble of the first {k}", args.models[:k]) for k in range(2, len(args.models) + 1)]
    print(f"\n{args.split} split, {len(labels)} faces: accuracy % (ms per face)\n")
    print("| model | " + " | ".join(f"TTA {kind}" for kind in args.tta) + " |")
    print("| --- |" + " --- |" * len(args.tta))
    for name, members in rows:
        cells = []
        for kind in args.tta:
            mean = sum(probs[m, kind] for m in members) / len(members)
            cells.append(f"{100 * (mean.argmax(1) == labels).mean():.2f} ({sum(ms[m, kind] for m in members):.1f})")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
