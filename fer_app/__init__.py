"""fer_app: offline facial-expression recognition on minicnn.

    from fer_app import EmotionRecognizer
    EmotionRecognizer().detect_emotions(bgr_image)
"""
from .labels import CLASSES

__all__ = ["CLASSES", "EmotionRecognizer"]


def __getattr__(name):
    if name == "EmotionRecognizer":      # imported lazily: the training CLI does not need OpenCV's detector
        from .recognizer import EmotionRecognizer
        return EmotionRecognizer
    raise AttributeError(name)
