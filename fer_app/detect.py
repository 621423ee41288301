"""Finding faces, and the one way a found face becomes a 48×48 crop.

Two detectors, one interface (``find(image)`` → faces, largest first; ``detect(image)`` → their boxes):

* ``"yunet"``: libfacedetection's YuNet, a small CNN (BSD-3-Clause) compiled into the ``yuface`` wheel, so
  nothing is downloaded at run time.  It gives a confidence and five landmarks (eyes, nose, mouth
  corners), finds faces tilted to ±45° and turned toward profile, and fires on far fewer face-like
  patterns (benchmarks/bench_detect.py).  It runs on a copy shrunk to ``max_side`` (320 px: about 20 ms a
  frame on the 2-core VM, docs/detection.md) with its OpenMP pool held to one thread while it runs — wider, its idle threads spin against
  minicnn's pool.
* ``"haar"``: OpenCV's frontal-face Haar cascade; no score, no landmarks; misses faces tilted beyond ~15°.

``face_crop`` turns a detected face into the 48×48 grey face the network reads: a square around the box
framed as FER-2013 frames faces (or enlarged by ``margin``), rotated so the eyes are level when the detector
gave eyes (``align``) — or, where the face fills the picture, the picture itself.  Training
(class folders), explain and live all crop through it.  Haar detects on a downscaled grey copy and is not
histogram-equalised first: on a large frame with a plain background, global equalisation flattened the
face's contrast and the cascade missed it.
"""
import ctypes
import importlib.util
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .checks import Range, UserError
from .preprocess import to_face48, to_gray

DETECTOR_RANGES = {"scale_factor": Range(1, 3, low_open=True),       # the cascade's step between scales
                   "min_neighbors": Range(0, 100, integer=True),
                   "min_score": Range(0, 1),
                   "min_face": Range(1, integer=True),
                   "max_side": Range(32, 16384, integer=True)}


class DetectorError(UserError):
    """The face detector cannot be set up as asked."""


@dataclass(frozen=True)
class Face:
    """A detected face: its box (x, y, w, h) in the image, the detector's confidence in [0, 1] (None from
    Haar), the centres of the eyes as ((x, y) on the image's left, (x, y) on its right) or None, and the
    framing that makes its crop look like a FER-2013 face: (side of the square / the box's longer side,
    how far the square's centre lies below the box's, as a share of the side).  ``box`` lies within the
    image; ``detected_box`` is the box as the detector gave it, which reaches past the image's edge where the
    face does (None: ``box``): the crop is framed on it, so that a face cut by the edge keeps its scale."""
    box: tuple
    score: float = None
    eyes: tuple = None
    framing: tuple = (1.0, 0.0)
    detected_box: tuple = None


def _check(detector, names):
    for name in names:
        DETECTOR_RANGES[name].check(name, getattr(detector, name))


def _shrink(image, max_side):
    """(image shrunk so its longer side is at most max_side, the scale used); a 2×4000 strip keeps one row."""
    scale = min(1.0, max_side / max(image.shape[:2]))
    if scale == 1.0:
        return image, 1.0
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


@dataclass
class HaarFaceDetector:
    # FER-2013's faces were cut much as this cascade boxes them: on 479 Training faces (enlarged 4×, their
    # edges mirrored around them) its box covers 98 % of the side, centred; the shipped model is as accurate
    # on squares 1.0–1.2× the box (docs/model.md), so the middle
    FRAMING = (1.1, 0.0)
    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_face: int = 40           # smallest face side, in original-frame pixels
    max_side: int = 640          # frames are shrunk so their longer side is at most this

    def __post_init__(self):
        _check(self, ("scale_factor", "min_neighbors", "min_face", "max_side"))
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise DetectorError(f"could not load the Haar cascade {path} (is opencv-python<5 installed?)")

    def find(self, image):
        small, scale = _shrink(to_gray(image), self.max_side)
        min_side = max(12, int(round(self.min_face * scale)))
        found = self._cascade.detectMultiScale(small, scaleFactor=self.scale_factor,
                                               minNeighbors=self.min_neighbors, minSize=(min_side, min_side))
        boxes = [tuple(int(round(v / scale)) for v in box) for box in np.asarray(found).reshape(-1, 4)]
        return [Face(box, framing=self.FRAMING) for box in sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)]

    def detect(self, image):
        """Boxes (x, y, w, h) of the faces in ``image``, largest first."""
        return [face.box for face in self.find(image)]


@dataclass
class YuNetFaceDetector:
    # YuNet's box is taller than FER-2013's framing (107 % of its side, from above the brows) and narrower
    # (81 %): the FER-like square is 0.94 of the box's height, 2 % of it lower (measured as for Haar; the
    # shipped model: 64.3 % on such crops against 60.5 % on the 1.2× squares used before, docs/model.md)
    FRAMING = (0.94, 0.02)
    min_score: float = 0.6       # the CNN's confidence below which a detection is dropped
    min_face: int = 20           # smallest face side, in original-frame pixels
    max_side: int = 320          # frames are shrunk so their longer side is at most this

    def __post_init__(self):
        _check(self, ("min_score", "min_face", "max_side"))
        try:
            import yuface
        except ImportError:
            raise DetectorError("the yunet detector needs the yuface package: pip install yuface") from None
        from threadpoolctl import threadpool_limits
        self._detect, self._one_thread = _yunet(yuface), lambda: threadpool_limits(1, user_api="openmp")

    def find(self, image):
        colour = image if image.ndim == 3 and image.shape[2] == 3 else cv2.cvtColor(to_gray(image), cv2.COLOR_GRAY2BGR)
        small, scale = _shrink(colour, self.max_side)
        if min(small.shape[:2]) < 8:                    # nothing a face could fit in
            return []
        with self._one_thread():
            rows = self._detect(np.ascontiguousarray(small)).astype(np.float64)
        H, W = image.shape[:2]
        faces = []
        for row in rows:               # confidence (%), x, y, w, h, then five landmarks (x, y)
            if row[0] < 100 * self.min_score:
                continue
            x, y, w, h = row[1:5] / scale
            x0, y0 = max(0, int(round(x))), max(0, int(round(y)))          # clipped to the frame
            x1, y1 = min(W, int(round(x + w))), min(H, int(round(y + h)))
            if min(x1 - x0, y1 - y0) < self.min_face:
                continue
            eyes = tuple(tuple(row[5 + 2 * i:7 + 2 * i] / scale) for i in range(2))
            faces.append(Face((x0, y0, x1 - x0, y1 - y0), float(row[0]) / 100, tuple(sorted(eyes)), self.FRAMING,
                              (x, y, w, h)))
        return sorted(faces, key=lambda f: f.box[2] * f.box[3], reverse=True)

    def detect(self, image):
        """Boxes (x, y, w, h) of the faces in ``image``, largest first."""
        return [face.box for face in self.find(image)]


YUNET_BUFFER = 0x9000            # the result buffer libfacedetection writes into (its DETECT_BUFFER_SIZE)
_yunet_buffers = threading.local()


def _yunet(yuface):
    """libfacedetection's own entry point, called with a result buffer kept per thread: yuface's c_detect
    (2023.5.1) mallocs that buffer on every call and never frees it, 36 KB a frame — a gigabyte in eight hours
    of 30 fps video.  Rows as c_detect's: confidence (%), x, y, w, h, the five landmarks (x, y)."""
    try:
        lib = ctypes.CDLL(str(Path(yuface.__file__).with_name("libfacedetection.so")))
        detect = lib["_Z14facedetect_cnnPhS_iii"]      # facedetect_cnn(result, bgr, width, height, step)
    except (OSError, AttributeError):
        return lambda image: yuface.c_detect(image)[:, :15]   # another build: its own, leak and all
    detect.restype = ctypes.c_void_p
    detect.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]

    def rows(image):
        buffer = getattr(_yunet_buffers, "buffer", None)
        if buffer is None:
            buffer = _yunet_buffers.buffer = np.empty(YUNET_BUFFER, np.uint8)
        start = detect(buffer.ctypes.data, image.ctypes.data, image.shape[1], image.shape[0], image.strides[0])
        offset = start - buffer.ctypes.data
        n = int(np.frombuffer(buffer, np.int32, 1, offset)[0])
        return np.frombuffer(buffer, np.int16, 16 * n, offset + 4).reshape(n, 16)[:, :15].copy()
    return rows


DETECTORS = {"yunet": YuNetFaceDetector, "haar": HaarFaceDetector}
# yuface ships wheels for Linux x86-64, CPython 3.9–3.11; elsewhere the cascade is the default
DEFAULT_DETECTOR = "yunet" if importlib.util.find_spec("yuface") else "haar"


def make_detector(name, **options):
    """A detector by name, with the options that apply to it (None: its default)."""
    if name not in DETECTORS:
        raise ValueError(f"unknown detector {name!r}: choose from {', '.join(DETECTORS)}")
    cls = DETECTORS[name]
    fields = cls.__dataclass_fields__
    elsewhere = [k for k, v in options.items() if v is not None and k not in fields]
    if elsewhere:
        raise ValueError(f"{', '.join(elsewhere)}: not an option of the {name} detector")
    return cls(**{k: v for k, v in options.items() if v is not None})


def eye_angle(face):
    """Degrees the eye line is turned from level (positive: the right-hand eye is lower), or 0 without eyes."""
    if face.eyes is None:
        return 0.0
    (lx, ly), (rx, ry) = face.eyes
    return math.degrees(math.atan2(ry - ly, rx - lx))


# a face whose FER-framed square spans this share of the image's longer side or more is the image itself: on
# PublicTest written as face photos cropped as FER-2013 or closer, the whole photo scores 0.4-2.8 points above
# the reframed face, and photos with room around the face lose at most 0.14 (docs/detection.md)
FACE_PHOTO_SHARE = 0.85


def face_crop(image, face, margin=None, align=True):
    """The 48×48 grey face the network reads: a square around ``face``'s box framed as FER-2013 frames its
    faces (``face.framing``; or, given ``margin``, the box's longer side plus that share of it on each side),
    turned so the eyes are level when ``align`` and the detector gave eyes; the frame's edge is repeated
    where the square leaves it.  Where that square spans FACE_PHOTO_SHARE or more of the image's longer side,
    the image is a face photo cropped already, and its own square is the face: reframing it would only add
    the detector's jitter (docs/detection.md)."""
    x, y, w, h = face.detected_box or face.box
    scale, below = face.framing if margin is None else (1 + 2 * margin, 0.0)
    side = max(w, h) * scale
    H, W = image.shape[:2]
    if margin is None and side >= FACE_PHOTO_SHARE * max(H, W):
        return to_face48(_square(image, (W / 2, H / 2), max(H, W)))
    centre = (x + w / 2, y + h / 2 + below * side)
    angle = eye_angle(face) if align else 0.0
    if angle == 0.0:
        return to_face48(_square(image, centre, side))
    # one affine warp: rotate about the centre by the eye angle, then move the square's corner to (0, 0)
    m = cv2.getRotationMatrix2D(centre, angle, 1.0)
    m[:, 2] += side / 2 - np.array(centre)
    size = max(1, int(round(side)))
    return to_face48(cv2.warpAffine(to_gray(image), m, (size, size), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REPLICATE))


def _square(image, centre, side):
    """The square of ``side`` around ``centre``; where it leaves the image, the image's edge is repeated (a
    square clipped to the image and then resized would stretch the face)."""
    H, W = image.shape[:2]
    size = max(1, int(round(side)))
    x0, y0 = int(round(centre[0] - side / 2)), int(round(centre[1] - side / 2))
    if x0 >= 0 and y0 >= 0 and x0 + size <= W and y0 + size <= H:
        return image[y0:y0 + size, x0:x0 + size]
    shift = np.float32([[1, 0, -x0], [0, 1, -y0]])      # whole pixels: nearest is an exact copy
    return cv2.warpAffine(image, shift, (size, size), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)


def largest_face(image, detector, align=True):
    """(the 48×48 crop of the largest face, True), or (the image's centre square as 48×48, False) without one:
    how a photo of one person becomes a training face."""
    faces = detector.find(image)
    if faces:
        return face_crop(image, faces[0], align=align), True
    return centre_face(image), False


def centre_face(image):
    """The image's centre square as a 48×48 face: what stands for the face when the detector finds none."""
    H, W = image.shape[:2]
    return to_face48(_square(image, (W / 2, H / 2), min(H, W)))
