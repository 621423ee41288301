"""The Python API: find faces in a BGR image and tell their expressions.

    from fer_app import EmotionRecognizer
    rec = EmotionRecognizer()                      # the shipped model, the YuNet detector
    rec.detect_emotions(frame)  # [{"box": (x, y, w, h), "score": 0.93, "emotions": {"angry": 0.01, ..., "neutral": 0.2}}]
    rec.top_emotion(frame)      # ("happy", 0.93) for the largest face, (None, None) without a face
    rec.detect_emotions("photo.jpg")               # a path works too: a missing or broken file is named

The output has the same shape as the popular ``fer`` package's, so code can switch.

``detector``: "yunet" (the default where the yuface package is installed: a small CNN; finds tilted and turned faces, gives eye positions so each face
is turned level before it is classified, and rarely fires on face-like patterns) or "haar" (OpenCV's
cascade: frontal faces only, no alignment).  ``min_score`` applies to yunet, ``scale_factor`` and
``min_neighbors`` to haar; ``min_face`` and ``max_side`` (the side frames are shrunk to for detection) to
both; None means the detector's default (fer_app/detect.py).  Each face is cropped as FER-2013 frames its
faces (measured per detector); ``margin`` replaces that by the box plus that share of it on each side.
``tta``: "crops" (the default: each face averaged over ten shifted and mirrored views), "mirror" or None
(one view, about 4x faster; ExpressionClassifier.predict_proba).
"""
import os

import numpy as np

from .checks import DataError, Range
from .classifier import DEFAULT_TTA, ExpressionClassifier, tta_kind
from .detect import DEFAULT_DETECTOR, Face, face_crop, make_detector
from .images import read_image
from .preprocess import FACE_SIZE


def as_image(image):
    """The image itself: an array, or read from a path (one clear error when the file is missing or no image)."""
    if isinstance(image, (str, os.PathLike)):
        try:
            return read_image(image)
        except DataError as e:               # the API's mistakes are ValueErrors
            raise ValueError(str(e)) from None
    if image is None:
        raise ValueError("expected an image, got None: cv2.imread gives None when the file is missing or not an "
                         "image; pass the path itself to be told which")
    check_image(image)
    return image


def check_image(image):
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3) or image.size == 0:
        raise ValueError("expected an image as a uint8 NumPy array (H, W) or (H, W, 3) in BGR order, "
                         f"got {type(image).__name__} {getattr(image, 'shape', '')} {getattr(image, 'dtype', '')}")


class EmotionRecognizer:
    def __init__(self, model_path=None, detector=DEFAULT_DETECTOR, min_face=None, max_side=None, min_score=None,
                 scale_factor=None, min_neighbors=None, margin=None, align=True, tta=DEFAULT_TTA):
        if margin is not None:
            Range(-0.2, 1).check("margin", margin)
        tta = tta_kind(tta)
        self.detector = make_detector(detector, min_face=min_face, max_side=max_side, min_score=min_score,
                                      scale_factor=scale_factor, min_neighbors=min_neighbors)
        self.classifier = ExpressionClassifier(model_path)
        self.margin, self.align, self.tta = margin, align, tta

    @property
    def classes(self):
        return self.classifier.classes

    def find_faces(self, image):
        """The faces in ``image`` (fer_app.detect.Face: box, score, eyes), largest first."""
        return self.detector.find(as_image(image))

    def detect_faces(self, image):
        """Boxes (x, y, w, h) of the faces in ``image``, largest first."""
        return [face.box for face in self.find_faces(image)]

    def face_crops(self, image, faces):
        """The 48×48 grey crop of each face (Face objects or plain boxes) that the classifier takes, (N, 48, 48)."""
        if not len(faces):
            return np.zeros((0, FACE_SIZE, FACE_SIZE), np.uint8)
        image = as_image(image)
        faces = [f if isinstance(f, Face) else Face(tuple(f)) for f in faces]
        return np.stack([face_crop(image, face, self.margin, self.align) for face in faces])

    def classify_faces(self, image, faces, classes=None):
        """Probabilities (len(faces), 7) for the given faces (Face objects or plain boxes), all in one batch;
        columns in the order of ``classes`` (default: the model's own)."""
        return self.classifier.predict_proba(self.face_crops(image, faces), tta=self.tta, classes=classes)

    def as_dict(self, face, probs):
        """A face as JSON: its box, the detector's confidence (None from Haar, which gives none) and emotions."""
        return {"box": tuple(int(v) for v in face.box),
                "score": None if face.score is None else round(float(face.score), 3),
                "emotions": {c: round(float(p), 4) for c, p in zip(self.classes, probs)}}

    def detect_emotions(self, image):
        image = as_image(image)
        faces = self.find_faces(image)
        return [self.as_dict(face, p) for face, p in zip(faces, self.classify_faces(image, faces))]

    def top_emotion(self, image):
        """(label, probability) of the largest face, or (None, None) when there is no face."""
        faces = self.detect_emotions(image)
        if not faces:
            return None, None
        emotions = faces[0]["emotions"]
        label = max(emotions, key=emotions.get)
        return label, emotions[label]
