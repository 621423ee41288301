"""Average the snapshots of a run and recompute BatchNorm statistics: ``python -m fer_app.swa MODEL… DATA OUT``.

Given several MODELs (the snapshots of one run, ``fer_app.train --cycles``), their weights are averaged —
stochastic weight averaging, docs/sgd.md — and the BatchNorm running statistics of the average recomputed on
the training faces of DATA, as ``fer_app.train`` does before every validation (docs/batchnorm.md):

    python3 -m fer_app.swa runs/r.cycle-*.npz data/fer2013 runs/r-average.npz

The new file keeps the first MODEL's metadata, with a ``weights`` note naming the MODELs averaged, without the
first's validation metrics (they are not the average's), and, where the MODELs come from different runs, with
``training`` a list of each MODEL's, in order.  Given one MODEL, only its statistics are recomputed (for files
trained before fer_app.train did it).  All training faces, not augmented, in the order a generator seeded 0
shuffles them.
"""
import sys

import numpy as np

from minicnn.optim import average_weights

from . import cli
from .checks import UserError, check_outputs
from .classifier import ExpressionClassifier
from .cli import run_command
from .data import load_dataset
from .preprocess import center_crop


def recompute(args):
    check_outputs([("OUT", args.out)], [("MODEL", m) for m in args.models] + [("DATA", args.data)], args.overwrite)
    networks = [one_network(path) for path in args.models]
    member = networks[0]
    for path, network in zip(args.models[1:], networks[1:]):
        if (network.preprocessing, network.classes, network.size) != (member.preprocessing, member.classes,
                                                                       member.size):
            raise UserError(f"MODEL {path}: other preprocessing, classes or input size than {args.models[0]}; "
                            "average the snapshots of one run")
    metadata, weights = member.model.metadata, args.models[0]
    if len(networks) > 1:
        try:
            member.model.load_state_dict(average_weights([network.model for network in networks]))
        except ValueError as e:
            raise UserError(f"MODEL: {args.models[0]} and the others cannot be averaged: {e}") from None
        metadata.pop("metrics", None)           # the first snapshot's validation metrics are not the average's
        trainings = [network.model.metadata.get("training") for network in networks]
        if any(training != trainings[0] for training in trainings[1:]):
            metadata["training"] = trainings    # no one run made these weights: each input's, in order
        metadata["weights"] = "the average of " + ", ".join(map(str, args.models))
        weights = f"the average of {len(networks)} models' weights"
    faces = load_dataset(args.data)["train"][0]
    faces = faces[np.random.default_rng(0).permutation(len(faces))]
    member.model.recompute_batchnorm_statistics(center_crop(member.preprocessing(faces), member.size))
    metadata["batchnorm_statistics"] = f"recomputed on the {len(faces)} training faces of {args.data}"
    member.model.save(args.out)
    print(f"{args.out}: {weights} with the BatchNorm statistics of {len(faces)} training faces of {args.data}")
    return 0


def one_network(path):
    """The one network (a classifier Member) of the model file at ``path``; UserError for an ensemble file."""
    members = ExpressionClassifier(path).members
    if len(members) != 1:
        raise UserError(f"MODEL {path}: an ensemble of {len(members)} networks; give one network's file")
    return members[0]


def build_parser():
    p = cli.parser("swa", __doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", metavar="MODEL",
                   help="a model file of one network; several: their weights are averaged first")
    p.add_argument("data", metavar="DATA", help="the dataset whose training faces give the statistics")
    p.add_argument("out", metavar="OUT", help="the new model file")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists (default: refuse)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    return run_command(lambda: recompute(args))


if __name__ == "__main__":
    sys.exit(main())
