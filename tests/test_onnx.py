"""ONNX export (minicnn/onnx.py, fer_app/export.py): ONNX Runtime and OpenCV's DNN module give what minicnn gives."""
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_app import models
from fer_app.classifier import ExpressionClassifier
from fer_app.preprocess import Preprocessing
from minicnn import Sequential
from minicnn import layers as L
from minicnn.losses import softmax
from minicnn.serialization import save_models

from .helpers import CLASSES, untrained_model

onnx = pytest.importorskip("onnx", reason="onnx not installed (optional: pip install -e \".[onnx]\")")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed (optional: pip install -e \".[onnx]\")")
from minicnn import onnx as minicnn_onnx  # noqa: E402
from fer_app import export  # noqa: E402

FER_DIR = Path(os.environ.get("FER2013_DIR") or Path(__file__).resolve().parents[1] / "data" / "fer2013")
TOLERANCE = 1e-5
# OpenCV's DNN rounds further: on the resvgg net with random statistics, 1.1e-5 from a float64 forward where
# minicnn and ONNX Runtime are 1.2e-6 and 2.2e-6 away (measured); an export error would be of order 1
OPENCV_TOLERANCE = 5e-5


def assert_close(got, expected, tolerance=TOLERANCE):
    """Equal within 1e-5 of the largest output, in float32: each convolution's sums are rounded in their own
    order (minicnn's Winograd, ONNX Runtime's and OpenCV's kernels), so tiny probabilities differ in their
    last digits; the scale is the largest value, as float32's own precision is."""
    np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance * np.abs(expected).max())


def onnx_runtime(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def opencv_dnn(path, x):
    net = cv2.dnn.readNetFromONNX(str(path))
    net.setInput(x)
    return net.forward()


def export_command(capsys, *args):
    """python -m fer_app.export, in this process: (exit code, stdout, stderr)."""
    code = export.main([str(a) for a in args])
    printed = capsys.readouterr()
    return code, printed.out, printed.err


def with_running_statistics(model, rng):
    """BatchNorm layers with statistics and affine parameters far from their initial 0 and 1, which export must
    carry."""
    for layer in model.layers + [inner for block in model.layers if isinstance(block, L.Residual)
                                 for inner in block.body.layers]:
        if isinstance(layer, (L.BatchNorm2D, L.BatchNorm1D)):
            n = layer.num_features
            layer.buffers["running_mean"][...] = rng.standard_normal(n)
            layer.buffers["running_var"][...] = rng.uniform(0.5, 2.0, n)
            layer.params["gamma"][...] = rng.uniform(0.5, 1.5, n)
            layer.params["beta"][...] = 0.1 * rng.standard_normal(n)
    return model


def every_layer_kind(rng):
    """Stride, padding, a 5x5 kernel, LeakyReLU, average and global pooling: what the fer_app nets do not use."""
    return Sequential([L.Conv2D(1, 4, 5, stride=2, padding=2, rng=rng), L.LeakyReLU(0.1), L.AvgPool2D(2),
                       L.Conv2D(4, 6, 3, rng=rng), L.BatchNorm2D(6), L.ReLU(), L.Dropout(0.5, rng=rng),
                       L.GlobalAvgPool2D(), L.Dense(6, 3, rng=rng)])


NETS = {"tiny": lambda rng: models.build("tiny", rng), "small": lambda rng: models.build("small", rng),
        "vgg": lambda rng: models.build("vgg", rng), "resvgg": lambda rng: models.build("resvgg", rng), "vgg crop 44 width 0.5": lambda rng: models.build(
            "vgg", rng, size=44, width=0.5), "every layer kind": every_layer_kind}


@pytest.mark.parametrize("name", list(NETS))
def test_export_gives_predict_in_onnx_runtime_and_opencv(tmp_path, name):
    rng = np.random.default_rng(3)
    model = with_running_statistics(NETS[name](rng), rng)
    side = 44 if "crop 44" in name else 48
    path = tmp_path / "net.onnx"
    minicnn_onnx.export(model, path, input_shape=(1, side, side), softmax=True, metadata={"classes": CLASSES})
    onnx.checker.check_model(str(path))
    for batch in (1, 5):              # the batch size is free
        x = rng.standard_normal((batch, 1, side, side)).astype(np.float32)
        expected = softmax(model.predict(x))
        assert_close(onnx_runtime(path, x), expected)
        assert_close(opencv_dnn(path, x), expected, OPENCV_TOLERANCE)
    read = onnx.load(str(path))
    assert {p.key: p.value for p in read.metadata_props}["classes"] == '["' + '", "'.join(CLASSES) + '"]'
    assert read.opset_import[0].version == minicnn_onnx.OPSET


def test_scores_without_softmax(tmp_path):
    rng = np.random.default_rng(4)
    model = models.build("tiny", rng)
    minicnn_onnx.export(model, tmp_path / "scores.onnx", input_shape=(1, 48, 48))
    x = rng.standard_normal((3, 1, 48, 48)).astype(np.float32)
    assert_close(onnx_runtime(tmp_path / "scores.onnx", x), model.predict(x))


def test_a_layer_without_onnx_form_is_named():
    class Square(L.ReLU):
        pass

    model = Sequential([L.Flatten(), L.Dense(4, 2), Square()])
    with pytest.raises(ValueError, match=r"layer 2 \(Square\) has no ONNX form"):
        minicnn_onnx.graph_nodes(model, "input")


def test_shipped_model_exports_and_classifies_real_faces_as_fer_app(tmp_path, capsys):
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image not installed (optional: real photos)")
    head = cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2GRAY)[30:230, 120:330]
    faces = np.stack([cv2.resize(head, (48, 48), interpolation=cv2.INTER_AREA),
                      cv2.resize(head[20:180, 25:185], (48, 48), interpolation=cv2.INTER_AREA),
                      cv2.flip(cv2.resize(head, (48, 48), interpolation=cv2.INTER_AREA), 1)])
    out = tmp_path / "shipped.onnx"
    code, _, err = export_command(capsys, "--out", out)
    assert code == 0, err
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["equalize"] == "none" and '"mean": 0.5077' in meta["preprocessing"]
    x = (faces.astype(np.float32) / 255)[:, None]       # the preparation the metadata describes
    expected = ExpressionClassifier().predict_proba(faces)
    assert_close(onnx_runtime(out, x), expected)
    assert_close(opencv_dnn(out, x), expected)


def test_ensemble_is_one_graph_averaging_its_members(tmp_path, capsys):
    """Members with their own standardisation, crop size and class order: one graph, fer_app's probabilities."""
    rng = np.random.default_rng(5)
    crop = with_running_statistics(models.build("tiny", rng, size=44), rng)
    crop.metadata.update(classes=CLASSES[::-1], preprocessing=Preprocessing("none", 0.4, 0.3).to_dict(),
                         input_shape=[1, 44, 44])
    full = models.build("tiny", rng)
    full.metadata.update(classes=CLASSES, preprocessing=Preprocessing("none", 0.55, 0.2).to_dict())
    save_models(tmp_path / "ensemble.npz", {"m0": full, "m1": crop})
    code, out, err = export_command(capsys, "--model", tmp_path / "ensemble.npz", "--out", tmp_path / "e.onnx")
    assert code == 0 and "2 networks" in out, err
    faces = rng.integers(0, 256, (6, 48, 48)).astype(np.uint8)
    expected = ExpressionClassifier(tmp_path / "ensemble.npz").predict_proba(faces)
    got = onnx_runtime(tmp_path / "e.onnx", (faces.astype(np.float32) / 255)[:, None])
    assert_close(got, expected)


def test_export_refuses_in_one_line_and_writes_nothing(tmp_path, capsys):
    model = untrained_model(tmp_path / "m.npz")
    before = model.read_bytes()
    existing = tmp_path / "old.onnx"
    existing.write_bytes(b"a file of the user's")
    not_a_model = tmp_path / "notes.npz"
    not_a_model.write_text("not a model")
    for args, says in ((["--model", model, "--out", model], "would write over --model"),
                       (["--model", model, "--out", existing], "already exists"),
                       (["--model", not_a_model, "--out", tmp_path / "new.onnx"], "notes.npz")):
        code, _, err = export_command(capsys, *args)
        assert code == 2 and says in err and len(err.strip().splitlines()) == 1, err
    assert model.read_bytes() == before and existing.read_bytes() == b"a file of the user's"
    assert not (tmp_path / "new.onnx").exists()
    assert export_command(capsys, "--model", model, "--out", existing, "--overwrite")[0] == 0
    assert existing.read_bytes().startswith(b"\x08")        # an ONNX protobuf (field 1, ir_version) now


@pytest.mark.skipif(not (FER_DIR / "test").is_dir(), reason=f"FER-2013 not found at {FER_DIR} (set FER2013_DIR)")
def test_shipped_model_same_answer_on_every_public_test_face(tmp_path, capsys):
    from fer_app.data import load_dataset
    faces, _ = load_dataset(FER_DIR, log=lambda *a: None)["val"][:2]      # Kaggle's PublicTest: 3,589 faces
    out = tmp_path / "shipped.onnx"
    assert export_command(capsys, "--out", out)[0] == 0
    x = (faces.astype(np.float32) / 255)[:, None]
    expected = ExpressionClassifier().predict_proba(faces).argmax(1)
    assert (onnx_runtime(out, x).argmax(1) == expected).all()
    assert (opencv_dnn(out, x).argmax(1) == expected).all()


def test_readme_example_runs_as_written(tmp_path, capsys):
    """The README's ONNX example, copied out of the README and run on a real face without minicnn."""
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image not installed (optional: real photos)")
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = readme.split("### Export to ONNX", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert "minicnn" not in code and "fer_app" not in code
    head = cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR)[30:230, 120:330]
    cv2.imwrite(str(tmp_path / "face.png"), head)
    assert export_command(capsys, "--out", tmp_path / "fer.onnx")[0] == 0
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    label, probability = result.stdout.split()
    classifier = ExpressionClassifier()
    grey = cv2.imread(str(tmp_path / "face.png"), cv2.IMREAD_GRAYSCALE)      # as the example reads it
    expected = classifier.predict_proba(cv2.resize(grey, (48, 48), interpolation=cv2.INTER_AREA)[None])[0]
    assert label == classifier.classes[expected.argmax()] and abs(float(probability) - expected.max()) < 1e-5
