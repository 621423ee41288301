"""A model file's BatchNorm running statistics recomputed on the training faces of a dataset, as
``fer_app.train`` now does before every validation (docs/batchnorm.md), for files trained before it did:

    python3 docs/training/recompute_batchnorm.py runs/fer2013-vgg-student5.npz ../shared/data/fer2013 OUT.npz

All training faces, not augmented, in the order a generator seeded 0 shuffles them; the weights stay as they are.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fer_app.checks import UserError, check_outputs  # noqa: E402
from fer_app.classifier import ExpressionClassifier  # noqa: E402
from fer_app.cli import run_command  # noqa: E402
from fer_app.data import load_dataset  # noqa: E402
from fer_app.preprocess import center_crop  # noqa: E402


def recompute(args):
    check_outputs([("OUT", args.out)], [("MODEL", args.model), ("DATA", args.data)], args.overwrite)
    members = ExpressionClassifier(args.model).members
    if len(members) != 1:
        raise UserError(f"MODEL {args.model}: an ensemble of {len(members)} networks; give one network's file")
    member, = members
    faces = load_dataset(args.data)["train"][0]
    faces = faces[np.random.default_rng(0).permutation(len(faces))]
    member.model.recompute_batchnorm_statistics(center_crop(member.preprocessing(faces), member.size))
    statistics = f"recomputed on the {len(faces)} training faces of {args.data}"
    member.model.save(args.out, {**member.model.metadata, "batchnorm_statistics": statistics})
    print(f"{args.out}: {args.model} with the BatchNorm statistics of {len(faces)} training faces of {args.data}")
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", metavar="MODEL", help="a model file of one network")
    p.add_argument("data", metavar="DATA", help="the dataset whose training faces give the statistics")
    p.add_argument("out", metavar="OUT", help="the new model file")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    args = p.parse_args()
    sys.exit(run_command(lambda: recompute(args)))
