"""Face detection with OpenCV's frontal-face Haar cascade, and the margin crop.

Used by the class-folder loader (photos of any size → one face each) and by live
recognition (every face of a frame).  Detection runs on a downscaled grey copy of
the frame for speed; boxes are reported in the original frame's coordinates.  The frame
is not histogram-equalised first: on a large frame with a plain background, global
equalisation flattened the face's contrast and the cascade missed it (benchmarks/bench_live.py).
"""
from dataclasses import dataclass

import cv2
import numpy as np

from .checks import Range, UserError

DETECTOR_RANGES = {"scale_factor": Range(1, 3, low_open=True),       # the cascade's step between scales
                   "min_neighbors": Range(0, 100, integer=True),
                   "min_face": Range(1, integer=True),
                   "max_side": Range(32, 16384, integer=True)}


class DetectorError(UserError):
    """The face detector cannot be set up as asked."""


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


@dataclass
class HaarFaceDetector:
    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_face: int = 40           # smallest face side, in original-frame pixels
    max_side: int = 640          # frames are shrunk so their longer side is at most this

    def __post_init__(self):
        for name, allowed in DETECTOR_RANGES.items():
            allowed.check(name, getattr(self, name))
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise DetectorError(f"could not load the Haar cascade {path} (is opencv-python<5 installed?)")

    def detect(self, image):
        """Boxes (x, y, w, h) of the faces in ``image``, largest first."""
        gray = to_gray(image)
        scale = min(1.0, self.max_side / max(gray.shape))
        if scale < 1.0:          # (a 2×4000 strip keeps at least one row)
            size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
            small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        else:
            small = gray
        min_side = max(12, int(round(self.min_face * scale)))
        found = self._cascade.detectMultiScale(small, scaleFactor=self.scale_factor,
                                               minNeighbors=self.min_neighbors, minSize=(min_side, min_side))
        boxes = [tuple(int(round(v / scale)) for v in box) for box in np.asarray(found).reshape(-1, 4)]
        return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)


def crop_with_margin(image, box, margin=0.1):
    """Square crop around ``box`` enlarged by ``margin`` of its size on each side, clipped to the image."""
    x, y, w, h = box
    side = int(round(max(w, h) * (1 + 2 * margin)))
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    H, W = image.shape[:2]
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(W, x0 + side), min(H, y0 + side)
    return image[y0:y1, x0:x1]


def center_square(image):
    H, W = image.shape[:2]
    side = min(H, W)
    y0, x0 = (H - side) // 2, (W - side) // 2
    return image[y0:y0 + side, x0:x0 + side]
