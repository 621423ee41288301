"""A trained model file plus its own preprocessing: faces in, class probabilities out.

Evaluation, the Python API and live recognition all classify through this class,
so each of them prepares faces exactly as the model saw them in training.  The file may
also be an ensemble (``python -m fer_app.ensemble``): several networks, each with its own
preprocessing, whose probabilities are averaged.
"""
from pathlib import Path

import numpy as np

import minicnn
from minicnn.losses import softmax

from .labels import CLASSES
from .models import MIN_SIZE
from .preprocess import FACE_SIZE, Preprocessing, center_crop

SHIPPED_MODEL = Path(__file__).with_name("weights") / "fer2013_vgg.npz"
CROWD_MODEL = SHIPPED_MODEL.with_name("ferplus_vgg.npz")     # the same net fine-tuned on FER+'s votes
TTA_KINDS = (None, "mirror", "crops")
TTA_NAMES = tuple(kind or "none" for kind in TTA_KINDS)   # as options spell them
DEFAULT_TTA = "crops"  # the shipped default: the best PublicTest figure, and live keeps its speed (docs/model.md)
CROP_SHIFT = 2        # pixels each "crops" view is moved by (training shifts faces by up to 10 % = 5 px)


class Member:
    """One network of a model file, checked: its preprocessing, its class order, faces in → probabilities."""

    def __init__(self, model, where):
        meta = model.metadata
        try:
            self.preprocessing = Preprocessing.from_dict(meta["preprocessing"])
        except (KeyError, TypeError, ValueError) as e:
            raise minicnn.ModelFileError(f"{where}: model metadata lacks usable preprocessing settings ({e})") from None
        classes = meta.get("classes", CLASSES)
        if not isinstance(classes, (list, tuple)) or sorted(map(str, classes)) != sorted(CLASSES):
            raise minicnn.ModelFileError(f"{where}: expected the {len(CLASSES)} expression classes "
                                         f"({', '.join(CLASSES)}) in its metadata, got {classes!r}")
        self.model, self.classes = model, tuple(classes)
        shape = meta.get("input_shape", [1, FACE_SIZE, FACE_SIZE])
        if shape not in ([1, s, s] for s in range(MIN_SIZE, FACE_SIZE + 1)):
            raise minicnn.ModelFileError(f"{where}: its input_shape {shape!r} is not [1, S, S] with S from "
                                         f"{MIN_SIZE} to {FACE_SIZE} (the net's side for grey faces)")
        self.size = shape[-1]                  # below 48: the net takes crops of the face (trained with --crop)
        # classifies with the file's weights as loaded, prepared once (a Member is not for changing them)
        self.predictor = model.predictor()
        try:                     # one blank face through the net: a model that can't take faces fails here, not later
            out = self.predictor.predict(np.zeros((1, 1, self.size, self.size), model.dtype))
        except (ValueError, MemoryError) as e:
            raise minicnn.ModelFileError(f"{where}: does not take {self.size}x{self.size} grey faces: {e}") from None
        if out.shape != (1, len(CLASSES)):
            raise minicnn.ModelFileError(f"{where}: gives outputs of shape {out.shape[1:]} per face, "
                                         f"not one for each of the {len(CLASSES)} classes")

    def predict_proba(self, faces, tta, classes, batch_size):
        """Probabilities (N, 7) in the order of ``classes``, averaged over the ``tta`` views."""
        order = [self.classes.index(c) for c in classes]
        x = self.preprocessing(faces)
        n_views = len(tta_views(x[:0], tta, self.size))
        step = max(1, batch_size // n_views)            # all views of `step` faces go through the net as one batch
        out = []
        for i in range(0, len(x), step):
            views = np.concatenate(tta_views(x[i:i + step], tta, self.size))
            probs = softmax(self.predictor.predict(views)).reshape(n_views, -1, len(self.classes))
            out.append(probs.mean(axis=0)[:, order])
        return np.concatenate(out) if out else np.zeros((0, len(classes)), np.float32)


class ExpressionClassifier:
    def __init__(self, model_path=None):
        path = Path(model_path) if model_path else SHIPPED_MODEL
        self.path = path
        if "__models__" in minicnn.serialization.npz_headers(path):       # an ensemble
            models, _ = minicnn.serialization.load_models(path)
            self.members = [Member(model, f"{path} [{name}]") for name, model in models.items()]
        else:
            self.members = [Member(minicnn.load(path), path)]
        first = self.members[0]
        # one network's parts, for what looks inside one (explain)
        self.model, self.preprocessing, self.classes = first.model, first.preprocessing, first.classes

    def predict_proba(self, faces, tta=None, batch_size=256, classes=None):
        """uint8 faces (N, 48, 48) → probabilities (N, 7), averaged over the views ``tta`` names
        (test-time augmentation): None, one view; "mirror", the face and its mirror image; "crops", ten
        views — the face and four copies moved by CROP_SHIFT pixels (the edge mirrored in), each also
        mirrored: +0.6 points on FER-2013 PublicTest for the shipped model, at three to four times the cost.  A net
        trained on random crops (``--crop``) sees the centre crop, and with "crops" the four corner crops and
        the centre, each also mirrored.
        An ensemble averages its members' probabilities.  Columns in the order of ``classes`` (default: the
        model's own, ``self.classes``)."""
        tta, classes = tta_kind(tta), classes or self.classes
        return sum(m.predict_proba(faces, tta, classes, batch_size) for m in self.members) / len(self.members)


def tta_kind(tta):
    """None, "mirror" or "crops" ("none" is None; True and False, the API's older values, mean "mirror" and None)."""
    tta = {True: "mirror", False: None}.get(tta, tta) if isinstance(tta, bool) else tta
    tta = None if tta == "none" else tta
    if tta not in TTA_KINDS:
        raise ValueError(f"tta must be one of {', '.join(map(str, TTA_KINDS))}, got {tta!r}")
    return tta


def tta_views(x, tta, size=FACE_SIZE):
    """The size×size views of a prepared batch x (N, 1, H, W) that ``tta`` averages over (see predict_proba)."""
    H, W = x.shape[2:]
    views = [center_crop(x, size)]
    if tta == "crops" and size < H:
        views += [x[:, :, top:top + size, left:left + size] for top in (0, H - size) for left in (0, W - size)]
    elif tta == "crops":
        s = CROP_SHIFT
        padded = np.pad(x, ((0, 0), (0, 0), (s, s), (s, s)), mode="reflect")
        views += [padded[:, :, s + dy:s + dy + H, s + dx:s + dx + W] for dx, dy in ((-s, 0), (s, 0), (0, -s), (0, s))]
    if tta in ("mirror", "crops"):
        views += [v[..., ::-1] for v in views]
    return [np.ascontiguousarray(v) for v in views]
