"""The seven expression classes, in FER-2013's order (class id = position), and the names folders may use
for them."""
from .checks import DataError

CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
SYNONYMS = {
    "angry": "angry", "anger": "angry", "mad": "angry",
    "disgust": "disgust", "disgusted": "disgust", "contempt": "disgust",
    "fear": "fear", "fearful": "fear", "afraid": "fear", "scared": "fear",
    "happy": "happy", "happiness": "happy", "joy": "happy", "smile": "happy",
    "sad": "sad", "sadness": "sad", "unhappy": "sad",
    "surprise": "surprise", "surprised": "surprise",
    "neutral": "neutral", "neutrality": "neutral", "calm": "neutral",
}


def class_id(name, where=""):
    """The class id of a folder's name or synonym (any case); DataError naming ``where`` otherwise."""
    key = name.strip().lower()
    if key not in SYNONYMS:
        raise DataError(f"{where or name}: unknown class name {name!r} (expected one of {', '.join(CLASSES)} "
                        f"or a synonym such as anger, happiness, sadness)")
    return CLASSES.index(SYNONYMS[key])
