"""Training-time augmentation of prepared faces (float32 (N, 48, 48) in [0, 1]).

Each transform is switchable and tunable from ``fer_app.train``; all randomness comes
from the Generator passed in, so runs are reproducible.  Geometric transforms
(rotation, shift, zoom, flip) are combined into one affine warp per image.
"""
from dataclasses import asdict, dataclass

import cv2
import numpy as np


LOWRES_SIDES = (16, 40)     # the sides, in pixels, a low-resolution copy is shrunk to
JPEG_QUALITIES = (20, 70)   # the range of JPEG qualities a compressed copy is saved at (webcam streams, shared photos)
BLUR_SIGMAS = (0.5, 2.0)    # the range of a blurred copy's Gaussian σ, in pixels of the 48×48 face
CUT_MAX = 0.2               # the largest share of the side a cut face loses on each side
CLOSEUP_SCALES = (1.1, 1.45)  # how much a close-up enlarges the face: a photo cropped to 90-70 % of FER's framing


@dataclass
class Augmentation:
    rotation: float = 15.0       # max degrees either way
    flip: bool = True            # horizontal mirror with probability 1/2
    shift: float = 0.1           # max fraction of the side, each axis
    zoom: float = 0.1            # scale in [1 - zoom, 1 + zoom]
    brightness: float = 0.1      # additive, in [0, 1] units
    contrast: float = 0.2        # multiplicative around the image mean, in [1 - c, 1 + c]
    noise: float = 0.02          # Gaussian noise std, in [0, 1] units
    erase: float = 0.25          # probability of random erasing (one rectangle of 2-15 % of the area)
    lowres: float = 0.0          # probability of a low-resolution copy: shrunk to LOWRES_SIDES px and enlarged back
    jpeg: float = 0.0            # probability of a JPEG-compressed copy, at a quality in JPEG_QUALITIES
    blur: float = 0.0            # probability of a blurred copy, a Gaussian of σ in BLUR_SIGMAS
    cut: float = 0.0             # probability of a face cut short: up to CUT_MAX of each side its repeated edge
    closeup: float = 0.0         # probability of a close-up: the face enlarged CLOSEUP_SCALES times, its rim lost

    def to_dict(self):
        return asdict(self)

    def is_off(self):
        return not any(asdict(self).values())

    def __call__(self, x, rng):
        """Augmented copy of the batch x (N, H, W)."""
        x = x.copy()
        N, H, W = x.shape
        if self.rotation or self.shift or self.zoom or self.flip or self.closeup:
            angles = rng.uniform(-self.rotation, self.rotation, N)
            scales = rng.uniform(1 - self.zoom, 1 + self.zoom, N)
            if self.closeup:                    # a face photo cropped inside the face, taken whole as its crop
                close = rng.random(N) < self.closeup
                scales[close] *= rng.uniform(*CLOSEUP_SCALES, close.sum())
            shifts = rng.uniform(-self.shift, self.shift, (N, 2)) * (W, H)
            flips = rng.random(N) < 0.5 if self.flip else np.zeros(N, bool)
            for i in range(N):
                x[i] = affine(x[i], angles[i], scales[i], shifts[i], flips[i])
        if self.lowres:                         # a face far from the camera, enlarged by live as to_face48 does
            for i in np.flatnonzero(rng.random(N) < self.lowres):
                x[i] = low_resolution(x[i], int(rng.integers(LOWRES_SIDES[0], LOWRES_SIDES[1] + 1)))
        if self.blur:                           # out of focus or moving: the lens's blur comes before the stream's
            for i in np.flatnonzero(rng.random(N) < self.blur):
                x[i] = blurred(x[i], float(rng.uniform(*BLUR_SIGMAS)))
        if self.cut:                            # a face at the frame's edge, framed as face_crop frames it
            for i in np.flatnonzero(rng.random(N) < self.cut):
                x[i] = cut_short(x[i], *np.round(rng.uniform(0, CUT_MAX, 4) * (H, H, W, W)).astype(int))
        if self.jpeg:                           # compression comes after distance, as in a camera's stream
            for i in np.flatnonzero(rng.random(N) < self.jpeg):
                x[i] = jpeg_compressed(x[i], int(rng.integers(JPEG_QUALITIES[0], JPEG_QUALITIES[1] + 1)))
        if self.contrast or self.brightness:
            mean = x.mean(axis=(1, 2), keepdims=True)
            c = rng.uniform(1 - self.contrast, 1 + self.contrast, (N, 1, 1)).astype(np.float32)
            b = rng.uniform(-self.brightness, self.brightness, (N, 1, 1)).astype(np.float32)
            x = (x - mean) * c + mean + b
        if self.noise:
            x += rng.normal(0, self.noise, x.shape).astype(np.float32)
        if self.erase:
            for i in np.flatnonzero(rng.random(N) < self.erase):
                area = rng.uniform(0.02, 0.15) * H * W
                aspect = np.exp(rng.uniform(np.log(0.3), np.log(3.3)))
                h = int(min(H, round(np.sqrt(area * aspect))))
                w = int(min(W, round(np.sqrt(area / aspect))))
                y0, x0 = rng.integers(0, H - h + 1), rng.integers(0, W - w + 1)
                x[i, y0:y0 + h, x0:x0 + w] = rng.random()
        return np.clip(x, 0, 1, out=x)


def affine(face, angle=0.0, scale=1.0, shift=(0.0, 0.0), flip=False):
    """The face (H, W) turned by ``angle`` degrees and scaled about its centre, moved by ``shift`` (dx, dy) pixels
    and, with ``flip``, mirrored — one warp, the edges mirrored in."""
    H, W = face.shape
    m = cv2.getRotationMatrix2D((W / 2 - 0.5, H / 2 - 0.5), angle, scale)
    m[:, 2] += shift
    if flip:                                    # mirror: x → W - 1 - x, composed after the warp
        m[0] = -m[0]
        m[0, 2] += W - 1
    return cv2.warpAffine(face, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def low_resolution(face, side):
    """The face (H, W) shrunk to side×side and enlarged back: a face far from the camera, enlarged as live
    enlarges a small crop (preprocess.to_face48)."""
    small = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, face.shape[::-1], interpolation=cv2.INTER_LINEAR)


def blurred(face, sigma):
    """The face (H, W) through a Gaussian of ``sigma`` pixels (its edge mirrored): a face out of focus or moving."""
    return cv2.GaussianBlur(face, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)


def cut_short(face, top, bottom, left, right):
    """The face (H, W) with that many rows and columns at each side replaced by the edge of the rest repeated:
    what fer_app.detect.face_crop makes of a face cut by the frame's edge."""
    H, W = face.shape
    inside = face[top:H - bottom, left:W - right]
    return cv2.copyMakeBorder(inside, top, bottom, left, right, cv2.BORDER_REPLICATE)


def jpeg_compressed(face, quality):
    """The face (H, W), uint8 or float in [0, 1], saved as a JPEG of ``quality`` (1-100) and read back: the 8×8
    blocks and ringing of a compressed video or a shared photo."""
    pixels = face if face.dtype == np.uint8 else np.clip(np.rint(face * 255), 0, 255).astype(np.uint8)
    decoded = cv2.imdecode(cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_GRAYSCALE)
    return decoded if face.dtype == np.uint8 else decoded.astype(face.dtype) / 255


def random_crops(x, size, rng):
    """A size×size crop of each image of the batch x (N, H, W), each at its own random place."""
    N, H, W = x.shape
    tops, lefts = rng.integers(0, H - size + 1, N), rng.integers(0, W - size + 1, N)
    rows = tops[:, None, None] + np.arange(size)[None, :, None]
    cols = lefts[:, None, None] + np.arange(size)[None, None, :]
    return x[np.arange(N)[:, None, None], rows, cols]
