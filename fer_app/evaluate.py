"""Evaluate a model: ``python -m fer_app.evaluate --model PATH --data PATH``.

Prints accuracy, per-class precision / recall / F1 and the confusion matrix;
optionally writes them as JSON (``--json``) and draws the matrix (``--plot``).  ``--split all`` scores
every face of the dataset as one test set (a folder of your own labelled photos); where the data lacks
some classes, the accuracy with the answers restricted to the classes present is printed beside the
seven-way one.  ``--labels ferplus`` scores FER-2013 against FER+'s crowd majority instead of its own labels.
"""
import json
import sys
from pathlib import Path

import numpy as np

from .classifier import SHIPPED_MODEL, ExpressionClassifier, tta_kind
from . import cli
from .checks import check_outputs
from .cli import run_command
from .checks import DataError
from .config import add_options
from .data import LABEL_SOURCES, NO_FER2013, default_data, load_dataset
from .labels import CLASSES
from .demo import demo_splits
from .plots import confusion_matrix_image


def confusion_matrix(y_true, y_pred, k):
    """counts[i, j] = number of examples of true class i predicted as j."""
    return np.bincount(np.asarray(y_true) * k + np.asarray(y_pred), minlength=k * k).reshape(k, k)


def report(confusion, classes):
    """Accuracy and per-class precision, recall, F1 and support from a confusion matrix."""
    tp = np.diag(confusion).astype(float)
    predicted, actual = confusion.sum(axis=0), confusion.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=precision + recall > 0)
    n = int(confusion.sum())
    return {"accuracy": float(tp.sum() / max(n, 1)), "n": n, "classes": list(classes),
            "confusion": confusion.tolist(),
            "per_class": {c: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                              "support": int(actual[i])} for i, c in enumerate(classes)}}


def accuracy_over_present_classes(probs, labels):
    """The classes the labels hold and the accuracy when each face's answer is the likeliest of those (a
    dataset without, say, neutral faces is then scored as the k-way task it is)."""
    present = np.unique(labels)
    answers = present[probs[:, present].argmax(axis=1)]
    return {"present_classes": [CLASSES[c] for c in present],
            "accuracy_present": float((answers == labels).mean()) if len(labels) else 0.0}


def format_report(result):
    classes = result["classes"]
    lines = [f"accuracy {result['accuracy']:.4f} on {result['n']} faces", "",
             f"{'class':<10}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
    for c in classes:
        m = result["per_class"][c]
        lines.append(f"{c:<10}{m['precision']:>10.3f}{m['recall']:>10.3f}{m['f1']:>10.3f}{m['support']:>10d}")
    lines += ["", "confusion matrix (rows: true class, columns: predicted)",
              " " * 10 + "".join(f"{c[:8]:>9}" for c in classes)]
    for c, row in zip(classes, result["confusion"]):
        lines.append(f"{c:<10}" + "".join(f"{v:>9d}" for v in row))
    return "\n".join(lines)


def build_parser():
    p = cli.parser("evaluate", __doc__.split("\n\n")[0])
    cli.add_model_option(p)
    p.add_argument("--data", help="dataset path, as for fer_app.train, or 'demo' (default: $FER2013_DIR, else "
                                  "data/fer2013 or data/fer2013.csv)")
    p.add_argument("--split", choices=("test", "val", "train", "all"),
                   help="which split; all: every face of the dataset (default: test if the data has it, else val)")
    p.add_argument("--labels", choices=LABEL_SOURCES, default="fer2013",
                   help="score against the dataset's own labels, or FER+'s crowd majority (FER-2013 only; faces "
                        "the crowd calls no face or unknown are left out)")
    cli.add_tta_option(p)
    p.add_argument("--json", metavar="OUT", help="write the results as JSON (default: print only)")
    p.add_argument("--plot", metavar="CM.png", help="draw the confusion matrix (default: none)")
    p.add_argument("--overwrite", action="store_true", help="replace existing --json and --plot files "
                                                            "(default: refuse)")
    add_options(p, only=("detector", "skip_bad", "no_cache"))            # as fer_app.train reads the data
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    return run_command(lambda: run(args))


def run(args):
    args.data = args.data or default_data()
    if args.data is None:
        raise DataError(f"{NO_FER2013}: put it there as data/README.md says, name your own labelled faces with "
                        "--data PATH, or try --data demo")
    check_outputs([("--json", args.json), ("--plot", args.plot)],
                  [("--model", args.model), ("--data", None if args.data == "demo" else args.data)], args.overwrite)
    classifier = ExpressionClassifier(args.model)
    if args.data == "demo" and args.labels != "fer2013":
        raise DataError(f"--labels {args.labels}: the demo faces have no crowd votes (FER-2013 only)")
    splits = demo_splits() if args.data == "demo" else load_dataset(
        args.data, skip_bad=args.skip_bad, use_cache=not args.no_cache, detector=args.detector, labels=args.labels)
    split = args.split or ("test" if "test" in splits else "val")
    if split == "all":
        faces, labels = (np.concatenate(part) for part in zip(*splits.values()))
    elif split not in splits:
        raise DataError(f"{args.data}: has no {split} split (it has {', '.join(splits)})")
    else:
        faces, labels = splits[split]
    tta = tta_kind(args.tta)
    probs = classifier.predict_proba(faces, tta=tta, classes=CLASSES)      # in the data's class order
    result = report(confusion_matrix(labels, probs.argmax(1), len(CLASSES)), CLASSES)
    result.update(split=split, labels=args.labels, model=str(classifier.path), tta=tta,
                  **accuracy_over_present_classes(probs, labels))
    how = f"[{split}]{f' with {tta} TTA' if tta else ', no TTA'}{', FER+ crowd labels' if args.labels == 'ferplus' else ''}"
    print(f"{classifier.path} on {args.data} {how}")
    if args.data == "demo" and classifier.path.resolve() == SHIPPED_MODEL.resolve():
        print("note: the shipped model learned FER-2013's photographs and the demo faces are drawn shapes of "
              "another kind, so this accuracy says little; evaluate the model fer_app.train made on them with "
              "--model runs/demo-tiny.npz")
    print(format_report(result))
    if len(result["present_classes"]) < len(CLASSES):
        print(f"\naccuracy {result['accuracy_present']:.4f} with the answers restricted to the "
              f"{len(result['present_classes'])} classes present ({', '.join(result['present_classes'])})")
    if args.json:
        cli.write_text_atomically(args.json, json.dumps(result, indent=2))
    if args.plot:
        confusion_matrix_image(np.array(result["confusion"]), CLASSES, args.plot,
                               title=f"{classifier.path.name} on {Path(args.data).name} {how}\naccuracy {100 * result['accuracy']:.2f}% on {result['n']} faces")
    return 0


if __name__ == "__main__":
    sys.exit(main())
