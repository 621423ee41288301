"""A trained model file plus its own preprocessing: faces in, class probabilities out.

Evaluation, the Python API and live recognition all classify through this class,
so each of them prepares faces exactly as the model saw them in training.
"""
from pathlib import Path

import numpy as np

import minicnn
from minicnn.losses import softmax

from .labels import CLASSES
from .preprocess import FACE_SIZE, Preprocessing

SHIPPED_MODEL = Path(__file__).with_name("weights") / "fer2013_vgg.npz"


class ExpressionClassifier:
    def __init__(self, model_path=None):
        path = Path(model_path) if model_path else SHIPPED_MODEL
        self.path = path
        self.model = minicnn.load(path)
        meta = self.model.metadata
        try:
            self.preprocessing = Preprocessing.from_dict(meta["preprocessing"])
        except (KeyError, TypeError, ValueError) as e:
            raise minicnn.ModelFileError(f"{path}: model metadata lacks usable preprocessing settings ({e})") from None
        classes = meta.get("classes", CLASSES)
        if not isinstance(classes, (list, tuple)) or sorted(map(str, classes)) != sorted(CLASSES):
            raise minicnn.ModelFileError(f"{path}: expected the {len(CLASSES)} expression classes "
                                         f"({', '.join(CLASSES)}) in its metadata, got {classes!r}")
        self.classes = tuple(classes)
        try:                     # one blank face through the net: a model that can't take faces fails here, not later
            out = self.model.predict(np.zeros((1, 1, FACE_SIZE, FACE_SIZE), self.model.dtype))
        except (ValueError, MemoryError) as e:
            raise minicnn.ModelFileError(f"{path}: does not take {FACE_SIZE}x{FACE_SIZE} grey faces: {e}") from None
        if out.shape != (1, len(CLASSES)):
            raise minicnn.ModelFileError(f"{path}: gives outputs of shape {out.shape[1:]} per face, "
                                         f"not one for each of the {len(CLASSES)} classes")

    def predict_proba(self, faces, tta=False, batch_size=256):
        """uint8 faces (N, 48, 48) → probabilities (N, 7).

        ``tta``: average over the face and its mirror image (test-time augmentation)."""
        x = self.preprocessing(faces)
        out = []
        for i in range(0, len(x), batch_size):
            batch = x[i:i + batch_size]
            p = softmax(self.model.predict(batch))
            if tta:
                p = (p + softmax(self.model.predict(np.ascontiguousarray(batch[..., ::-1])))) / 2
            out.append(p)
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)), np.float32)
