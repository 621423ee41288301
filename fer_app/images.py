"""Reading an image file, with its size checked before a pixel is decoded."""
import cv2
import numpy as np
import PIL.Image

from .checks import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm", ".ppm", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}
MAX_IMAGE_PIXELS = 100_000_000      # 100 megapixels: more than any camera photo fer_app would see


def check_image_size(path):
    """DataError when the file's header declares more than MAX_IMAGE_PIXELS; read with Pillow, which opens
    the header without decoding a pixel (formats Pillow doesn't know are left to OpenCV's own limit)."""
    too_big = f"{path}: declares more than the {MAX_IMAGE_PIXELS // 10**6} megapixels fer_app reads"
    try:
        with PIL.Image.open(path) as image:
            width, height = image.size
    except PIL.Image.DecompressionBombError:
        raise DataError(too_big) from None
    except (OSError, ValueError, SyntaxError):
        return
    if width * height > MAX_IMAGE_PIXELS:
        raise DataError(f"{too_big} ({width}x{height})")


def read_image(path):
    """Decode an image file (unicode paths too); DataError if it is not a readable image or declares more
    than MAX_IMAGE_PIXELS (checked before any pixel is decoded)."""
    check_image_size(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    except cv2.error:           # OpenCV's own limits (e.g. a header it finds too large)
        image = None
    if image is None:
        raise DataError(f"{path}: not a readable image (corrupt or unsupported format)")
    if image.dtype != np.uint8:        # 16-bit PNGs and the like
        image = cv2.convertScaleAbs(image, alpha=255.0 / max(float(image.max()), 1.0))
    return image
