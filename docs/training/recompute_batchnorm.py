"""A model file's BatchNorm running statistics recomputed on the training faces of a dataset, as
``fer_app.train`` now does before every validation (docs/batchnorm.md), for files trained before it did:

    python3 docs/training/recompute_batchnorm.py runs/fer2013-vgg-student5.npz ../shared/data/fer2013 OUT.npz

All training faces, not augmented, in the order a generator seeded 0 shuffles them; the weights stay as they are.
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fer_app.classifier import ExpressionClassifier  # noqa: E402
from fer_app.data import load_dataset  # noqa: E402
from fer_app.preprocess import center_crop  # noqa: E402


def main(model_path, data, out):
    if Path(out).exists():
        sys.exit(f"{out}: exists; name a new file")
    member, = ExpressionClassifier(model_path).members          # one network, not an ensemble
    faces = load_dataset(data)["train"][0]
    faces = faces[np.random.default_rng(0).permutation(len(faces))]
    member.model.recompute_batchnorm_statistics(center_crop(member.preprocessing(faces), member.size))
    member.model.save(out, {**member.model.metadata,
                            "batchnorm_statistics": f"recomputed on the {len(faces)} training faces of {data}"})
    print(f"{out}: {model_path} with the BatchNorm statistics of {len(faces)} training faces of {data}")


if __name__ == "__main__":
    main(*sys.argv[1:])
