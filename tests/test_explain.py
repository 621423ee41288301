"""Saliency and Grad-CAM point at the region that matters; the pictures have the expected sizes."""
import cv2
import numpy as np

from fer_app import explain
from fer_app.classifier import ExpressionClassifier
from fer_app.preprocess import Preprocessing
from minicnn import Sequential
from minicnn import layers as L

from .helpers import untrained_model

REGION = (slice(10, 20), slice(28, 40))          # rows, columns of the 48×48 face


def region_mask(dilate=0):
    mask = np.zeros((48, 48), bool)
    rows, cols = REGION
    mask[rows.start - dilate:rows.stop + dilate, cols.start - dilate:cols.stop + dilate] = True
    return mask


def test_saliency_lights_up_only_the_region_the_score_reads():
    conv = L.Conv2D(1, 2, 1)
    conv.params["weight"][...] = np.array([1.0, -1.0]).reshape(2, 1, 1, 1)
    conv.params["bias"][...] = 0
    dense = L.Dense(2 * 48 * 48, 7)
    dense.params["weight"][...] = 0
    dense.params["bias"][...] = 0
    weights = np.zeros((2, 48, 48), np.float32)
    weights[0][REGION] = 1.0                                     # class 0 reads channel 0 inside the region
    dense.params["weight"][:, 0] = weights.reshape(-1)
    model = Sequential([conv, L.ReLU(), L.Flatten(), dense])
    x = Preprocessing()(np.random.default_rng(0).integers(0, 256, (1, 48, 48), dtype=np.uint8))
    saliency, _, _ = explain.saliency_and_gradcam(model, x, target=0)
    assert saliency.shape == (48, 48)
    assert saliency[~region_mask()].max() == 0 and saliency[region_mask()].mean() > 0


def test_gradcam_highlights_the_only_feature():
    conv = L.Conv2D(1, 4, 3, padding=1)
    conv.params["weight"][...] = 1.0 / 9
    conv.params["bias"][...] = 0
    model = Sequential([conv, L.ReLU(), L.MaxPool2D(2), L.Flatten(), L.Dense(4 * 24 * 24, 7)])
    model.layers[-1].params["weight"][...] = np.abs(model.layers[-1].params["weight"])
    face = np.zeros((48, 48), np.uint8)
    face[REGION] = 255                                           # the one bright feature
    _, cam, _ = explain.saliency_and_gradcam(model, Preprocessing()(face[None]), target=0)
    assert cam.shape == (48, 48)                                 # the last conv block, before pooling
    assert cam[region_mask(dilate=1)].sum() > 0.99 * cam.sum() > 0


def test_explain_writes_every_picture(tmp_path):
    classifier = ExpressionClassifier(untrained_model(tmp_path / "m.npz"))
    face = np.random.default_rng(1).integers(0, 256, (48, 48), dtype=np.uint8)
    files, probs = explain.explain(classifier, face, tmp_path / "out")
    assert np.allclose(probs, classifier.predict_proba(face[None], tta="crops")[0])   # as the recognizer says
    assert {"filters", "features_1", "features_2", "features_3", "saliency", "gradcam", "probabilities",
            "overview"} <= set(files)
    for name in ("saliency", "gradcam", "face"):
        assert cv2.imread(str(files[name])).shape == (240, 240, 3)
    filters = cv2.imread(str(files["filters"]))               # 8 first-layer filters of the tiny net: one row
    assert filters.shape == (24 + 52, 8 * 52, 3)                # 48-pixel tiles with 4-pixel gaps
    page = (tmp_path / "out" / "index.html").read_text()
    assert all(p.name in page for p in files.values())
    # what --overwrite guards is exactly what explain writes
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(explain.picture_names(classifier.model))


def test_explain_cli_errors(tmp_path, capsys):
    assert explain.main(["--image", str(tmp_path / "none.png"), "--model", str(untrained_model(tmp_path / "m.npz"))]) == 2
    assert "error:" in capsys.readouterr().err


def test_explain_says_how_many_faces_it_found_and_explains_the_one_chosen(tmp_path, capsys):
    import pytest
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image not installed (optional: real photos)")
    head = cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR)[30:230, 120:330]
    photo = np.full((360, 640, 3), 90, np.uint8)
    photo[60:260, 20:230] = head                                        # the larger face, on the left
    photo[100:240, 400:547] = cv2.resize(head, (147, 140))              # a smaller one on the right
    cv2.imwrite(str(tmp_path / "two.png"), photo)
    model = str(untrained_model(tmp_path / "m.npz"))
    assert explain.main(["--image", str(tmp_path / "two.png"), "--model", model, "--face", "2",
                         "--out", str(tmp_path / "second")]) == 0
    said = capsys.readouterr().out
    assert "2 faces found; explaining face 2 of them, largest first, box (4" in said      # x in the 400s
    assert explain.main(["--image", str(tmp_path / "two.png"), "--model", model, "--face", "3",
                         "--out", str(tmp_path / "third")]) == 2
    assert "--face 3: " in capsys.readouterr().err and not (tmp_path / "third").exists()


def test_gradcam_looks_past_a_residual_block_of_convolutions():
    model = Sequential([L.Conv2D(1, 4, 3, padding=1), L.ReLU(),
                        L.Residual([L.Conv2D(4, 4, 3, padding=1), L.BatchNorm2D(4)]), L.ReLU(), L.MaxPool2D(2),
                        L.Flatten(), L.Dense(4 * 24 * 24, 7)])
    assert explain.last_conv_block(model) == 3                   # the ReLU after the block
    _, cam, _ = explain.saliency_and_gradcam(model, Preprocessing()(np.zeros((1, 48, 48), np.uint8)), target=0)
    assert cam.shape == (48, 48)
