"""One preprocessing path for training and live use; seeded, switchable augmentation."""
import cv2
import numpy as np
import pytest

from fer_app.augment import Augmentation
from fer_app.preprocess import Preprocessing, to_face48

OFF = dict(rotation=0, flip=False, shift=0, zoom=0, brightness=0, contrast=0, noise=0, erase=0, lowres=0, jpeg=0,
           blur=0, cut=0, closeup=0)


def test_to_face48_accepts_any_size_and_colour():
    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, (150, 120, 3), dtype=np.uint8)
    expected = cv2.resize(cv2.cvtColor(big, cv2.COLOR_BGR2GRAY), (48, 48), interpolation=cv2.INTER_AREA)
    assert np.array_equal(to_face48(big), expected)
    for image in (rng.integers(0, 256, (20, 30), dtype=np.uint8), rng.integers(0, 256, (60, 60, 4), dtype=np.uint8)):
        face = to_face48(image)
        assert face.shape == (48, 48) and face.dtype == np.uint8
    with pytest.raises(ValueError, match="8-bit"):
        to_face48(np.zeros((48, 48), np.float32))


@pytest.mark.parametrize("equalize", ["none", "global", "clahe"])
def test_preprocessing_shapes_and_round_trip(equalize):
    faces = np.random.default_rng(1).integers(60, 120, (5, 48, 48), dtype=np.uint8)
    prep = Preprocessing(equalize).fitted(faces)
    x = prep(faces)
    assert x.shape == (5, 1, 48, 48) and x.dtype == np.float32
    assert abs(float(x.mean())) < 1e-3 and abs(float(x.std()) - 1) < 1e-2
    assert Preprocessing.from_dict(prep.to_dict()) == prep


def test_equalisation_stretches_a_narrow_range():
    faces = np.random.default_rng(1).integers(60, 121, (5, 48, 48), dtype=np.uint8)
    spread = {e: float(np.ptp(Preprocessing(e).prepare(faces))) for e in ("none", "global", "clahe")}
    assert spread["none"] == pytest.approx(60 / 255)               # 60..120 left as it is
    assert spread["global"] > 0.95 and spread["clahe"] > 2 * spread["none"]


def test_bad_equalize_and_shapes_are_refused():
    with pytest.raises(ValueError, match="equalize"):
        Preprocessing("sometimes")
    with pytest.raises(ValueError, match=r"\(N, 48, 48\)"):
        Preprocessing().prepare(np.zeros((2, 40, 40), np.uint8))


def faces01(n=64, seed=2):
    return np.random.default_rng(seed).random((n, 48, 48), dtype=np.float32)


def test_augmentation_is_seeded_and_bounded():
    x = faces01()
    a = Augmentation()(x, np.random.default_rng(7))
    b = Augmentation()(x, np.random.default_rng(7))
    assert np.array_equal(a, b) and a.dtype == np.float32 and a.shape == x.shape
    assert 0 <= a.min() and a.max() <= 1 and not np.array_equal(a, x)
    assert np.array_equal(x, faces01())            # the input is left alone


def test_switched_off_is_identity_and_flip_mirrors():
    x = faces01(8)
    assert np.array_equal(Augmentation(**OFF)(x, np.random.default_rng(0)), x)
    flipped = Augmentation(**dict(OFF, flip=True))(x, np.random.default_rng(0))
    mirrored = [np.allclose(f, o[:, ::-1], atol=1e-6) for f, o in zip(flipped, x)]
    unchanged = [np.allclose(f, o, atol=1e-6) for f, o in zip(flipped, x)]
    assert all(m or u for m, u in zip(mirrored, unchanged)) and any(mirrored) and any(unchanged)


def test_each_transform_changes_something():
    x = faces01(16)
    for name, value in [("rotation", 15), ("shift", 0.1), ("zoom", 0.2), ("brightness", 0.1), ("contrast", 0.3),
                        ("noise", 0.05), ("erase", 1.0), ("lowres", 1.0), ("jpeg", 1.0), ("blur", 1.0),
                        ("cut", 1.0), ("closeup", 1.0)]:
        out = Augmentation(**dict(OFF, **{name: value}))(x, np.random.default_rng(1))
        assert not np.allclose(out, x), name


def changed(x, out):
    """(face, its augmented copy) for each face of the batch x that the augmentation changed."""
    return [(face, seen) for face, seen in zip(x, out) if not np.array_equal(seen, face)]


def fitted(error, grid, step):
    """The value of the evenly spaced ``grid`` where ``error`` is least, refined to ``step`` around it."""
    coarse, spacing = min(grid, key=error), grid[1] - grid[0]
    return min(np.arange(coarse - spacing, coarse + spacing, step), key=error)


def test_blur_is_a_gaussian_of_a_sigma_in_its_range_and_leaves_other_faces_alone():
    from fer_app.augment import BLUR_SIGMAS
    x = faces01(40)
    out = Augmentation(**dict(OFF, blur=0.5))(x, np.random.default_rng(4))
    sigmas = []
    for face, seen in changed(x, out):
        # the σ whose Gaussian reproduces this copy: over twice the range on a 0.01 grid, then to 0.0005
        def error(s):
            return np.abs(seen - cv2.GaussianBlur(face, (0, 0), s, borderType=cv2.BORDER_REFLECT_101)).max()
        best = fitted(error, np.arange(0.01, 2 * BLUR_SIGMAS[1], 0.01), 0.0005)
        assert error(best) < 2e-4 and BLUR_SIGMAS[0] - 0.001 <= best <= BLUR_SIGMAS[1] + 0.001
        sigmas.append(best)
    assert 10 < len(sigmas) < 30 and np.ptp(sigmas) > 0.5        # about half the faces, at many sigmas


def test_lowres_is_a_round_trip_through_a_smaller_face():
    from fer_app.augment import LOWRES_SIDES
    x = faces01(16)
    out = Augmentation(**dict(OFF, lowres=1.0))(x, np.random.default_rng(3))
    sides = []
    for face, low in zip(x, out):
        found = [s for s in range(LOWRES_SIDES[0], LOWRES_SIDES[1] + 1)
                 if np.allclose(low, cv2.resize(cv2.resize(face, (s, s), interpolation=cv2.INTER_AREA), (48, 48),
                                                interpolation=cv2.INTER_LINEAR), atol=1e-6)]
        assert len(found) == 1
        sides.append(found[0])
    assert len(set(sides)) > 5            # 25 sides, 16 draws


def test_jpeg_is_a_round_trip_through_a_compressed_file():
    from fer_app.augment import JPEG_QUALITIES
    x = np.stack([cv2.GaussianBlur(f, (0, 0), 2) for f in faces01(8)])      # smooth, as faces are
    out = Augmentation(**dict(OFF, jpeg=1.0))(x, np.random.default_rng(4))
    for face, compressed in zip(x, out):
        pixels = np.rint(face * 255).astype(np.uint8)
        found = [q for q in range(JPEG_QUALITIES[0], JPEG_QUALITIES[1] + 1)
                 if np.array_equal(np.rint(compressed * 255), cv2.imdecode(
                     cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, q])[1], cv2.IMREAD_GRAYSCALE))]
        assert found                             # neighbouring qualities may encode alike
        assert 0.2 < np.abs(compressed - face).mean() * 255 < 5      # blocky, yet the same face


def test_random_crops_cut_each_face_at_its_own_place():
    from fer_app.augment import random_crops
    x = np.random.default_rng(0).random((64, 48, 48)).astype(np.float32)
    crops = random_crops(x, 44, np.random.default_rng(1))
    assert crops.shape == (64, 44, 44)
    places = []
    for face, crop in zip(x, crops):
        found = [(t, l) for t in range(5) for l in range(5) if np.array_equal(face[t:t + 44, l:l + 44], crop)]
        assert len(found) == 1
        places.append(found[0])
    assert len(set(places)) > 15          # 25 places, 64 draws


def test_a_cut_face_keeps_its_middle_and_repeats_the_edge_of_it_up_to_a_fifth_of_each_side():
    from fer_app.augment import CUT_MAX
    x = faces01(40)
    out = Augmentation(**dict(OFF, cut=0.5))(x, np.random.default_rng(5))
    cuts = []
    for face, seen in changed(x, out):
        same = np.isclose(seen, face)                  # the middle left as it was: find its bounds
        rows, cols = np.flatnonzero(same.any(axis=1)), np.flatnonzero(same.any(axis=0))
        top, bottom, left, right = rows[0], 47 - rows[-1], cols[0], 47 - cols[-1]
        middle = face[top:48 - bottom, left:48 - right]
        assert np.array_equal(seen, cv2.copyMakeBorder(middle, top, bottom, left, right, cv2.BORDER_REPLICATE))
        assert max(top, bottom, left, right) <= round(CUT_MAX * 48)
        cuts.append((top, bottom, left, right))
    assert 10 < len(cuts) < 30 and len(set(cuts)) > 5


def test_a_close_up_is_the_face_enlarged_about_its_centre_by_a_factor_in_its_range():
    from fer_app.augment import CLOSEUP_SCALES, affine
    x = faces01(40)
    out = Augmentation(**dict(OFF, closeup=0.5))(x, np.random.default_rng(6))
    factors = []
    for face, seen in changed(x, out):
        # the enlargement that reproduces this copy: over a range wider than CLOSEUP_SCALES on a 0.001 grid,
        # then to 1e-6
        def error(s):
            return np.abs(seen - affine(face, scale=s)).max()
        best = fitted(error, np.arange(0.9, 1.6, 0.001), 1e-6)
        assert error(best) < 1e-3
        factors.append(best)
    assert 10 < len(factors) < 30
    assert CLOSEUP_SCALES[0] - 1e-3 <= min(factors) and max(factors) <= CLOSEUP_SCALES[1] + 1e-3
    assert max(factors) - min(factors) > 0.15                     # spread over the range, not one factor
