"""Join trained models into one ensemble file: ``python -m fer_app.ensemble --models A.npz B.npz --out E.npz``.

The ensemble's prediction is the mean of its members' probabilities, each member preparing faces with
its own preprocessing.  fer_app.evaluate, fer_app.live and ``EmotionRecognizer`` take the file wherever
they take a model; it is read without pickle like every model file.
"""
import sys

from minicnn.serialization import save_models

from . import cli
from .checks import UserError, check_outputs
from .classifier import ExpressionClassifier
from .cli import run_command


def write_ensemble(paths, out):
    """Check every model (a network that classifies 48×48 faces into the 7 classes), then write them as one file."""
    members = [ExpressionClassifier(path).members for path in paths]
    models = {f"m{i}": member.model for i, group in enumerate(members) for member in group}
    save_models(out, models, state={"combine": "mean of probabilities", "sources": [str(p) for p in paths]})
    return len(models)


def build_parser():
    p = cli.parser("ensemble", __doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", required=True, help="model files (or ensembles) to join")
    p.add_argument("--out", required=True, help="the ensemble file to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out (default: refuse)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    return run_command(lambda: run(args))


def run(args):
    if len(args.models) < 2:
        raise UserError("--models: give at least two models to join")
    check_outputs([("--out", args.out)], [("--models", path) for path in args.models], args.overwrite)
    n = write_ensemble(args.models, args.out)
    print(f"{args.out}: an ensemble of {n} networks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
