"""The one preprocessing path, shared by training, evaluation and live recognition.

face image (any size, grey or colour, uint8)
  → grey → 48×48 (INTER_AREA when shrinking, INTER_LINEAR when enlarging)      ``to_face48``
  → optional histogram equalisation: "none", "global" or "clahe"               ``Preprocessing.prepare``
  → float32 in [0, 1]                                                          (augmentation acts here)
  → standardise with the training set's mean and std → (N, 1, 48, 48)          ``Preprocessing.standardize``

The settings (equalisation, mean, std) travel inside the model file's metadata,
so live recognition prepares faces exactly as the model saw them in training.
"""
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from .checks import Range

FACE_SIZE = 48
EQUALIZATIONS = ("none", "global", "clahe")
CLAHE_CLIP_LIMIT, CLAHE_TILES = 2.0, (4, 4)


def to_gray(image):
    """BGR, BGRA or grey uint8 image → grey uint8."""
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] in (3, 4):
        code = cv2.COLOR_BGR2GRAY if image.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
        return cv2.cvtColor(image, code)
    raise ValueError(f"expected a grey, BGR or BGRA image, got shape {image.shape}")


def to_face48(image):
    """Any uint8 image → grey 48×48 uint8."""
    gray = to_gray(np.asarray(image))
    if gray.dtype != np.uint8:
        raise ValueError(f"expected an 8-bit image, got {gray.dtype}")
    if gray.shape == (FACE_SIZE, FACE_SIZE):
        return gray
    shrinking = gray.shape[0] > FACE_SIZE or gray.shape[1] > FACE_SIZE
    return cv2.resize(gray, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def center_crop(x, size):
    """The central size×size part of images (..., H, W): what a net trained on random crops (``--crop``) sees."""
    H, W = x.shape[-2:]
    top, left = (H - size) // 2, (W - size) // 2
    return x[..., top:top + size, left:left + size]


@dataclass
class Preprocessing:
    equalize: str = "none"
    mean: float = 0.5
    std: float = 0.25

    def __post_init__(self):
        if self.equalize not in EQUALIZATIONS:
            raise ValueError(f"equalize must be one of {EQUALIZATIONS}, got {self.equalize!r}")
        Range(0, 1).check("mean", self.mean)
        Range(0, 1, low_open=True).check("std", self.std)

    def prepare(self, faces):
        """uint8 faces (N, 48, 48) → float32 (N, 48, 48) in [0, 1], equalised as configured."""
        faces = np.asarray(faces, dtype=np.uint8)
        if faces.ndim != 3 or faces.shape[1:] != (FACE_SIZE, FACE_SIZE):
            raise ValueError(f"expected faces of shape (N, 48, 48), got {faces.shape}")
        if self.equalize == "global":
            faces = np.stack([cv2.equalizeHist(f) for f in faces]) if len(faces) else faces
        elif self.equalize == "clahe":
            clahe = cv2.createCLAHE(clipLimit=CLAHE_CLIP_LIMIT, tileGridSize=CLAHE_TILES)
            faces = np.stack([clahe.apply(f) for f in faces]) if len(faces) else faces
        return faces.astype(np.float32) * np.float32(1 / 255)

    def standardize(self, x):
        """float32 (N, 48, 48) in [0, 1] → network input (N, 1, 48, 48)."""
        return ((x - np.float32(self.mean)) * np.float32(1 / self.std))[:, None].astype(np.float32, copy=False)

    def __call__(self, faces):
        return self.standardize(self.prepare(faces))

    def fitted(self, faces):
        """Same settings, with mean and std measured on ``faces`` (the training set)."""
        x = self.prepare(faces)
        return Preprocessing(self.equalize, float(x.mean()), float(max(x.std(), 1e-3)))

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        return cls(**{k: d[k] for k in ("equalize", "mean", "std")})
