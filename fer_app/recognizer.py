"""The Python API: find faces in a BGR image and tell their expressions.

    from fer_app import EmotionRecognizer
    rec = EmotionRecognizer()                      # the model shipped with the package
    rec.detect_emotions(frame)  # [{"box": (x, y, w, h), "emotions": {"angry": 0.01, ..., "neutral": 0.2}}]
    rec.top_emotion(frame)      # ("happy", 0.93) for the largest face, (None, None) without a face

The output has the same shape as the popular ``fer`` package's, so code can switch.
"""
import numpy as np

from .checks import Range
from .classifier import ExpressionClassifier
from .detect import HaarFaceDetector, crop_with_margin
from .preprocess import to_face48


def check_image(image):
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3) or image.size == 0:
        raise ValueError("expected an image as a uint8 NumPy array (H, W) or (H, W, 3) in BGR order, "
                         f"got {type(image).__name__} {getattr(image, 'shape', '')} {getattr(image, 'dtype', '')}")


class EmotionRecognizer:
    def __init__(self, model_path=None, detector="haar", min_face=40, scale_factor=1.1, min_neighbors=5,
                 margin=0.1, max_side=640, tta=False):
        if detector != "haar":
            raise ValueError(f"unknown detector {detector!r}: only 'haar' (OpenCV's Haar cascade) is available")
        Range(0, 1).check("margin", margin)
        self.classifier = ExpressionClassifier(model_path)
        self.detector = HaarFaceDetector(scale_factor, min_neighbors, min_face, max_side)
        self.margin, self.tta = margin, tta

    @property
    def classes(self):
        return self.classifier.classes

    def detect_faces(self, image):
        check_image(image)
        return self.detector.detect(image)

    def classify_faces(self, image, boxes):
        """Probabilities (len(boxes), 7) for the given boxes of ``image``, all in one batch."""
        if not boxes:
            return np.zeros((0, len(self.classes)), np.float32)
        faces = np.stack([to_face48(crop_with_margin(image, box, self.margin)) for box in boxes])
        return self.classifier.predict_proba(faces, tta=self.tta)

    def as_dict(self, box, probs):
        return {"box": tuple(int(v) for v in box),
                "emotions": {c: round(float(p), 4) for c, p in zip(self.classes, probs)}}

    def detect_emotions(self, image):
        boxes = self.detect_faces(image)
        return [self.as_dict(box, p) for box, p in zip(boxes, self.classify_faces(image, boxes))]

    def top_emotion(self, image):
        """(label, probability) of the largest face, or (None, None) when there is no face."""
        faces = self.detect_emotions(image)
        if not faces:
            return None, None
        emotions = faces[0]["emotions"]
        label = max(emotions, key=emotions.get)
        return label, emotions[label]
