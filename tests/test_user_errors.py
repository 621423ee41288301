"""Every mistake a user can make, at every entry point, ends in one clear line and loses nothing.

Each command case runs a fer_app command on a workspace of real and broken inputs and asserts: exit code 2,
no traceback, exactly one line on stderr that starts with the command's error prefix and names the cause,
and every file that was in the workspace before is byte-identical afterwards (nothing overwritten, nothing
removed).  API cases assert a ValueError (or subclass) whose one-line message names the cause.
"""
import hashlib
import importlib.util
import json
import struct
import zlib
from contextlib import ExitStack

import cv2
import numpy as np
import pytest

import minicnn
from fer_app import cli, demo, ensemble, evaluate, explain, export, live, runs, train, tune
from fer_app.config import TrainConfig
from fer_app.preprocess import Preprocessing
from fer_app.recognizer import EmotionRecognizer
from minicnn import Sequential
from minicnn import layers as L
from minicnn.serialization import read_npz

from .helpers import CLASSES, constant_model, untrained_model

COMMANDS = {"train": train.main, "evaluate": evaluate.main, "tune": tune.main, "live": live.main,
            "explain": explain.main, "demo": demo.main, "ensemble": ensemble.main, "export": export.main}


def png_declaring(width, height):
    """A PNG whose header declares width × height pixels (its data is a few bytes)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def model_file(path, layers, meta=None, arrays=None, arch=None):
    """A model file written by hand: the layers' own arrays unless ``arrays`` replaces some, ``arch`` the
    architecture JSON."""
    model = Sequential(layers)
    content = dict(model.state_dict(), __format__=np.array("minicnn-1"),
                   __arch__=np.array(json.dumps(model.architecture() if arch is None else arch)),
                   __meta__=np.array(json.dumps({"classes": CLASSES, "preprocessing": Preprocessing().to_dict()}
                                                if meta is None else meta)))
    content.update(arrays or {})
    np.savez(path, **content)
    return path


def rewrite_checkpoint(source, path, state_text=None, change_state=None, drop=(), replace=None):
    arrays = read_npz(source)
    state = json.loads(str(arrays["__state__"]))
    if change_state:
        change_state(state)
    arrays["__state__"] = np.array(state_text if state_text is not None else json.dumps(state))
    for key in drop:
        del arrays[key]
    arrays.update(replace or {})
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="module")
def w(tmp_path_factory):
    """The workspace: a dataset, photos, a video, a model, a finished run, configs, and broken versions of each."""
    w = tmp_path_factory.mktemp("workspace")
    faces, labels = demo.make_faces(3, seed=1)
    rows = ["emotion,pixels,Usage"] + [f"{y},{' '.join(map(str, f.ravel()))},{'Training' if i % 3 else 'PublicTest'}"
                                       for i, (f, y) in enumerate(zip(faces, labels))]
    (w / "faces.csv").write_text("\n".join(rows) + "\n")
    (w / "photos").mkdir()
    for i in range(3):
        cv2.imwrite(str(w / "photos" / f"p{i}.png"), cv2.resize(faces[i], (96, 96)))
    (w / "photos" / "p0.jpg").write_bytes((w / "photos" / "p0.png").read_bytes())     # two images, one stem
    writer = cv2.VideoWriter(str(w / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 96))
    for i in range(5):
        writer.write(cv2.cvtColor(cv2.resize(faces[i], (96, 96)), cv2.COLOR_GRAY2BGR))
    writer.release()
    untrained_model(w / "model.npz")
    constant_model(w / "model_dense.npz", favourite=3)
    ensemble.write_ensemble([w / "model.npz", w / "model_dense.npz"], w / "ensemble.npz")
    (w / "huge.png").write_bytes(png_declaring(100_000, 100_000))
    (w / "bomb" / "happy").mkdir(parents=True)
    (w / "bomb" / "happy" / "huge.png").write_bytes(png_declaring(100_000, 100_000))
    (w / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n but nothing after")
    (w / "empty.png").write_bytes(b"")
    (w / "strip.png").write_bytes(cv2.imencode(".png", np.full((2, 4000, 3), 128, np.uint8))[1].tobytes())
    (w / "folder.png").mkdir()
    for name in ("happy", "odd"):
        (w / "tree" / name).mkdir(parents=True)
        cv2.imwrite(str(w / "tree" / name / "1.png"), faces[0])
    (w / "empty_folder").mkdir()
    (w / "notes.txt").write_text("not a video\n")
    assert train.main(["--data", "demo", "--arch", "tiny", "--epochs", "1", "--quiet", "--threads", "1",
                       "--out", str(w / "run.npz")]) == 0
    configs = {"array": "[1, 2]", "broken": "{lr: 0.1", "rmsprop": '{"optimizer": "rmsprop"}',
               "schedule": '{"schedule": "exponential"}', "batch": '{"batch_size": 32.5}',
               "unknown": '{"learning_rate": 0.1}', "bool": '{"epochs": true}', "string": '{"lr": "fast"}',
               "nan": '{"momentum": NaN}', "switch": '{"nesterov": "yes"}', "resume": '{"resume": "x.ckpt.npz"}'}
    for name, text in configs.items():
        (w / f"config_{name}.json").write_text(text)
    bad_models = {
        "huge_dense": ([L.Flatten(), L.Dense(2, 7)], None, None,
                       [{"type": "Flatten", "config": {}}, {"type": "Dense", "config": {"in_features": 10**6,
                                                                                          "out_features": 10**6}}]),
        "kernel0": ([L.Conv2D(1, 2, 1)], None, None,
                    [{"type": "Conv2D", "config": {"in_channels": 1, "out_channels": 2, "kernel_size": 0}}]),
        "std0": ([L.Flatten(), L.Dense(48 * 48, 7)], {"classes": CLASSES, "preprocessing":
                                                      {"equalize": "none", "mean": 0.5, "std": 0}}, None, None),
        "string_weights": ([L.Flatten(), L.Dense(48 * 48, 7)], None,
                           {"1.bias": np.array(["a"] * 7)}, None),
        "ten_outputs": ([L.Flatten(), L.Dense(48 * 48, 10)], None, None, None),
        "nan_weights": ([L.Flatten(), L.Dense(48 * 48, 7)], None, {"1.bias": np.full(7, np.nan, np.float32)}, None),
        "other_classes": ([L.Flatten(), L.Dense(48 * 48, 7)],
                          {"classes": ["a", "b", "c", "d", "e", "f", "g"],
                           "preprocessing": Preprocessing().to_dict()}, None, None),
        "wrong_input": ([L.Flatten(), L.Dense(100, 7)], None, None, None),
        "input_shape": ([L.Flatten(), L.Dense(48 * 48, 7)], {"classes": CLASSES, "input_shape": [3, 4096, 4096],
                                                             "preprocessing": Preprocessing().to_dict()}, None, None),
        "arch_dict": ([L.Flatten(), L.Dense(48 * 48, 7)], None, None, {"layers": []}),
        "padding": ([L.Conv2D(1, 1, 1)], None, None,
                    [{"type": "Conv2D", "config": {"in_channels": 1, "out_channels": 1, "kernel_size": 1,
                                                   "padding": 10**6}}]),
        "bad_arg": ([L.Flatten(), L.Dense(48 * 48, 7)], None, None,
                    [{"type": "Flatten", "config": {"evil": 1}}, {"type": "Dense", "config": {}}]),
    }
    for name, (layers, meta, arrays, arch) in bad_models.items():
        model_file(w / f"model_{name}.npz", layers, meta, arrays, arch)
    (w / "model_missing_array.npz").write_bytes((w / "model.npz").read_bytes())
    arrays = read_npz(w / "model.npz")
    del arrays["0.weight"]
    np.savez(w / "model_missing_array.npz", **arrays)
    np.savez(w / "model_pickle.npz", __format__=np.array("minicnn-1"), __arch__=np.array([{"x": 1}], dtype=object),
             __meta__=np.array("{}"))
    (w / "model_truncated.npz").write_bytes((w / "model.npz").read_bytes()[:300])
    ckpt = w / "run.ckpt.npz"
    rewrite_checkpoint(ckpt, w / "half.ckpt.npz", change_state=lambda s: s["config"].update(epochs=3))   # unfinished
    rewrite_checkpoint(ckpt, w / "ckpt_json.npz", state_text="{not json")
    rewrite_checkpoint(ckpt, w / "ckpt_keys.npz", change_state=lambda s: s.pop("history"))
    rewrite_checkpoint(ckpt, w / "ckpt_type.npz", change_state=lambda s: s.update(epoch="three"))
    rewrite_checkpoint(ckpt, w / "ckpt_args.npz", change_state=lambda s: s["config"].update(batch_size=-5))
    rewrite_checkpoint(ckpt, w / "ckpt_optim.npz", replace={"optim/0.momentum": np.zeros(3, np.float32)})
    rewrite_checkpoint(ckpt, w / "ckpt_model.npz", drop=["model/0.weight"])
    rewrite_checkpoint(ckpt, w / "ckpt_preprocessing.npz",
                       change_state=lambda s: s.update(preprocessing={"equalize": "none", "mean": 0.5, "std": -1}))
    return w


def snapshot(folder):
    return {p: hashlib.sha1(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


CASES = {
    "train": [
        ("--epochs 0", "argument --epochs: must be at least 1, got 0"),
        ("--epochs ten", "argument --epochs: must be an integer, got 'ten'"),
        ("--batch-size 0", "argument --batch-size: must be in [1, 4096], got 0"),
        ("--batch-size 1e9", "argument --batch-size: must be an integer"),
        ("--lr -1", "argument --lr: must be above 0, got -1"),
        ("--lr nan", "argument --lr: must be a finite number, got nan"),
        ("--lr inf", "argument --lr: must be a finite number"),
        ("--momentum nan", "argument --momentum: must be a finite number, got nan"),
        ("--momentum 1.5", "argument --momentum: must be in [0, 1), got 1.5"),
        ("--weight-decay nan", "argument --weight-decay: must be a finite number"),
        ("--weight-decay -0.1", "argument --weight-decay: must be at least 0"),
        ("--dropout 1", "argument --dropout: must be in [0, 1), got 1"),
        ("--label-smoothing -0.1", "argument --label-smoothing: must be in [0, 1)"),
        ("--seed -1", "argument --seed: must be in [0, 4294967295], got -1"),
        ("--noise -1", "argument --noise: must be in [0, 1], got -1"),
        ("--rotation 400", "argument --rotation: must be in [0, 180]"),
        ("--shift 2", "argument --shift: must be in [0, 0.5]"),
        ("--zoom 1", "argument --zoom: must be in [0, 1)"),
        ("--erase 1.5", "argument --erase: must be in [0, 1]"),
        ("--threads -2", "argument --threads: must be in [1, 1024], got -2"),
        ("--threads 0", "argument --threads: must be in [1, 1024], got 0"),
        ("--step-size 0", "argument --step-size: must be at least 1, got 0"),
        ("--early-stop 0", "argument --early-stop: must be at least 1"),
        ("--val-fraction 1", "argument --val-fraction: must be in [0, 1)"),
        ("--checkpoint-minutes -5", "argument --checkpoint-minutes: must be at least 0"),
        ("--arch resnet", "argument --arch: invalid choice: 'resnet'"),
        ("--optimizer rmsprop", "argument --optimizer: invalid choice: 'rmsprop'"),
        ("--nesterov --momentum 0", "nesterov needs a momentum above 0"),
        ("--cycles 0", "argument --cycles: must be at least 1, got 0"),
        ("--crop 8", "argument --crop: must be in [16, 48], got 8"),
        ("--distill-weight 2", "argument --distill-weight: must be in [0, 1], got 2"),
        ("--distill-temperature 0", "argument --distill-temperature: must be in [1, 100], got 0"),
        ("--data demo --teacher {w}/missing.npz --out {w}/new.npz", "--teacher {w}/missing.npz: no such file"),
        ("--data demo --teacher {w}/model_ten_outputs.npz --out {w}/new.npz", "--teacher {w}/model_ten_outputs.npz: "
                                                                              "gives outputs of shape (10,)"),
        ("--data demo --teacher {w}/run.npz --out {w}/run.npz --overwrite", "would write over --teacher {w}/run.npz"),
        ("--width 0", "argument --width: must be in [0.25, 4], got 0"),
        ("--cycles 2 --schedule step", "cycles 2 needs schedule cosine, not step"),
        ("--data demo --epochs 4 --cycles 3 --out {w}/new.npz", "epochs 4 is not a multiple of cycles 3"),
        ("--data demo --init {w}/missing.npz --out {w}/new.npz", "--init {w}/missing.npz: no such file"),
        ("--data demo --init {w}/faces.csv --out {w}/new.npz", "--init {w}/faces.csv: not a readable .npz file"),
        ("--data demo --arch small --init {w}/run.npz --out {w}/new.npz", "--init {w}/run.npz: not a model of "
                                                                          "architecture small"),
        ("--data demo --init {w}/run.npz --out {w}/run.npz --overwrite", "would write over --init {w}/run.npz"),
        ("--frobnicate", "unrecognized arguments: --frobnicate"),
        ("--data {empty}", "argument --data: must not be empty"),
        ("--data demo --out /proc/version/model.npz", "/proc/version"),
        ("--config {w}/config_array.json", "config_array.json: expected a JSON object of options, got a list"),
        ("--config {w}/config_broken.json", "config_broken.json: cannot read JSON"),
        ("--config {w}/config_rmsprop.json", "config_rmsprop.json: 'optimizer' must be one of sgd, adam, got 'rmsprop'"),
        ("--config {w}/config_schedule.json", "'schedule' must be one of none, step, cosine, plateau, got 'exponential'"),
        ("--config {w}/config_batch.json", "config_batch.json: 'batch_size' must be an integer, got 32.5"),
        ("--config {w}/config_unknown.json", "config_unknown.json: unknown option(s) learning_rate"),
        ("--config {w}/config_bool.json", "config_bool.json: 'epochs' must be an integer, got True"),
        ("--config {w}/config_string.json", "config_string.json: 'lr' must be a number, got 'fast'"),
        ("--config {w}/config_nan.json", "config_nan.json: 'momentum' must be a finite number, got nan"),
        ("--config {w}/config_switch.json", "config_switch.json: 'nesterov' must be true or false, got 'yes'"),
        ("--config {w}/config_resume.json", "config_resume.json: unknown option(s) resume"),
        ("--config {w}/missing.json", "missing.json: cannot read JSON"),
        ("--data {w}/missing", "missing: no such file or folder"),
        ("--data {w}/notes.txt", "notes.txt: expected a .csv/.csv.gz file or a folder"),
        ("--data {w}/faces.csv --out {w}/faces.csv", "--out {w}/faces.csv: would write over --data {w}/faces.csv"),
        ("--data {w}/tree --out {w}/tree/model.npz", "would write over --data {w}/tree, an input"),
        ("--data {w}/photos", "photos: no class folders inside"),
        ("--data {w}/tree --out {w}/new.npz", "odd: unknown class name 'odd'"),
        ("--data {w}/bomb --out {w}/new.npz", "huge.png: declares more than the 100 megapixels fer_app reads "
                                               "(use --skip-bad to skip such items)"),
        ("--data demo --config {w}/config_rmsprop.json --out {w}/config_rmsprop.json", "'optimizer' must be one of"),
        ("--data demo --out {w}/run.npz", "an earlier run's files are there"),
        ("--data demo --out {w}/half.npz", "continue it with --resume {w}/half.ckpt.npz"),
        ("--data demo --out {w}/photos", "--out {w}/photos: is a folder"),
        ("--resume {w}/missing.ckpt.npz", "missing.ckpt.npz: no such file"),
        ("--resume {w}/faces.csv", "faces.csv: not a readable .npz file"),
        ("--resume {w}/model.npz", "model.npz: not a minicnn training state"),
        ("--resume {w}/ckpt_json.npz", "ckpt_json.npz: the training state is not valid JSON"),
        ("--resume {w}/ckpt_keys.npz", "ckpt_keys.npz: the training state lacks history"),
        ("--resume {w}/ckpt_type.npz", "ckpt_type.npz: the training state has values of the wrong type for epoch"),
        ("--resume {w}/ckpt_args.npz", "ckpt_args.npz: 'batch_size' must be in [1, 4096], got -5"),
        ("--resume {w}/ckpt_optim.npz", "ckpt_optim.npz: the training state does not fit"),
        ("--resume {w}/ckpt_model.npz", "ckpt_model.npz: missing array 'model/0.weight'"),
        ("--resume {w}/ckpt_preprocessing.npz", "ckpt_preprocessing.npz: the training state does not fit"),
        ("--resume {w}/model_pickle.npz", "model_pickle.npz: holds Python objects"),
    ],
    "evaluate": [
        ("--model {w}/missing.npz --data demo", "missing.npz: no such file"),
        ("--model {w}/faces.csv --data demo", "faces.csv: not a readable .npz file"),
        ("--model {w}/model_truncated.npz --data demo", "model_truncated.npz: not a readable .npz file"),
        ("--model {w}/model_pickle.npz --data demo", "model_pickle.npz: holds Python objects"),
        ("--model {w}/model_huge_dense.npz --data demo", "array '1.weight' has shape (2, 7), layer 1 (Dense) "
                                                          "declares (1000000, 1000000)"),
        ("--model {w}/model_kernel0.npz --data demo", "Conv2D kernel_size must be an integer at least 1, got 0"),
        ("--model {w}/model_padding.npz --data demo", "Conv2D padding must be an integer between 0 and 64"),
        ("--model {w}/model_std0.npz --data demo", "model_std0.npz: model metadata lacks usable preprocessing "
                                                    "settings (std must be in (0, 1], got 0)"),
        ("--model {w}/model_string_weights.npz --data demo", "array '1.bias' holds <U1 values, not numbers"),
        ("--model {w}/model_nan_weights.npz --data demo", "array '1.bias' holds NaN or infinite values"),
        ("--model {w}/model_ten_outputs.npz --data demo", "model_ten_outputs.npz: gives outputs of shape (10,)"),
        ("--model {w}/model_other_classes.npz --data demo", "model_other_classes.npz: expected the 7 expression "
                                                             "classes"),
        ("--model {w}/model_wrong_input.npz --data demo", "model_wrong_input.npz: does not take 48x48 grey faces"),
        ("--model {w}/model_input_shape.npz --data demo", "model_input_shape.npz: its input_shape [3, 4096, 4096] "
                                                           "is not [1, S, S] with S from 16 to 48"),
        ("--model {w}/model_arch_dict.npz --data demo", "model_arch_dict.npz: malformed architecture"),
        ("--model {w}/model_missing_array.npz --data demo", "model_missing_array.npz: missing array '0.weight'"),
        ("--model {w}/model_bad_arg.npz --data demo", "model_bad_arg.npz: malformed architecture"),
        ("--model {w}/run.ckpt.npz --data demo", "run.ckpt.npz: is a training state (a checkpoint), not a model file"),
        ("--model {w}/model.npz --data {w}/missing", "missing: no such file or folder"),
        ("--model {w}/model.npz --data {w}/faces.csv --split test", "faces.csv: has no test split"),
        ("--model {w}/model.npz --data demo --json {w}/faces.csv", "--json {w}/faces.csv: {w}/faces.csv already "
                                                                    "exists"),
        ("--model {w}/model.npz --data {w}/faces.csv --json {w}/faces.csv --overwrite",
         "--json {w}/faces.csv: would write over --data {w}/faces.csv"),
        ("--model {w}/model.npz --data demo --plot {w}/model.npz --overwrite", "would write over --model"),
        ("--model {w}/model.npz --data demo --json {w}/r.json --plot {w}/r.json", "are the same place"),
        ("--model {w}/model.npz --data demo --split everything", "argument --split: invalid choice"),
        ("--model {w}/model.npz --data demo --tta all", "argument --tta: invalid choice: 'all'"),
        ("--model {w}/model.npz --data demo --plot /proc/version/cm.png", "/proc/version"),
    ],
    "tune": [
        ("--space lr=0.1:x", "argument --space: lr: must be a number, got 'x'"),
        ("--space lr=-1:0.1", "argument --space: lr: must be above 0, got -1"),
        ("--space lr=0.1:0.01", "argument --space: lr: expected LOW < HIGH, got '0.1:0.01'"),
        ("--space lr=log:0:0.1", "argument --space: lr: must be above 0, got 0"),
        ("--space lr=1:2:3", "argument --space: lr: expected LOW:HIGH or log:LOW:HIGH"),
        ("--space lr=", "argument --space: lr: give a SPEC after '='"),
        ("--space learning_rate=0.1", "argument --space: unknown parameter 'learning_rate' (searchable: lr, dropout"),
        ("--space dropout=1.5", "argument --space: dropout: must be in [0, 1), got 1.5"),
        ("--space arch=tiny|resnet", "argument --space: arch: unknown value 'resnet'"),
        ("--space aug_strength=0:9", "argument --space: aug_strength: must be in [0, 4], got 9"),
        ("--space {empty}", "argument --space: give at least one NAME=SPEC"),
        ("--space lr=0.1,lr=0.2", "argument --space: lr: must be a number, got '0.1,lr=0.2'"),
        ("--subset -5", "argument --subset: must be at least 1, got -5"),
        ("--trials 0", "argument --trials: must be at least 1"),
        ("--jobs 0", "argument --jobs: must be in [1, 64], got 0"),
        ("--epochs 0", "argument --epochs: must be at least 1"),
        ("--heartbeat 0", "argument --heartbeat: must be in [1, 3600]"),
        ("--seed -1", "argument --seed: must be in [0, 4294967295]"),
        ("--sampler bayes", "argument --sampler: invalid choice"),
        ("--arch resnet", "argument --arch: invalid choice: 'resnet'"),
        ("--out {empty}", "argument --out: must not be empty"),
        ("--data {w}/missing --out {w}/t", "missing: no such file or folder"),
        ("--data {w}/notes.txt --out {w}/t", "notes.txt: expected a .csv/.csv.gz file or a folder"),
        ("--data {w}/faces.csv --out {w}/faces.csv", "--out {w}/faces.csv: would write over --data"),
        ("--data demo --out {w}/model.npz", "--out {w}/model.npz: is a file; it must name a folder"),
    ],
    "live": [
        ("--source {w}/missing.mp4 --no-display", "missing.mp4: no such file, folder or camera index"),
        ("--source {w}/notes.txt --no-display", "notes.txt cannot be opened as a video"),
        ("--source {w}/empty_folder --no-display", "empty_folder: folder has no images"),
        ("--source 97 --no-display", "camera 97 is not available"),
        ("--source {w}/huge.png --no-display", "huge.png: declares more than the 100 megapixels"),
        ("--source {w}/broken.png --output {w}/annotated --no-display", "broken.png: not a readable image"),
        ("--source 99999999999 --no-display", "99999999999: no such file, folder or camera index"),
        ("--source {empty} --no-display", "argument --source: must not be empty"),
        ("--source {w}/clip.avi --jsonl /proc/version/f.jsonl --no-display", "/proc/version"),
        ("--source {w}/clip.avi --output {w}/clip.avi --no-display", "--output {w}/clip.avi: would write over "
                                                                      "--source {w}/clip.avi"),
        ("--source {w}/clip.avi --output {w}/clip.avi --overwrite --no-display", "would write over --source"),
        ("--source {w}/photos --output {w}/photos --no-display", "--output {w}/photos: would write over --source"),
        ("--source {w}/photos --output {w}/photos/annotated --no-display", "would write over --source {w}/photos"),
        ("--source {w}/photos --output {w} --no-display", "would write over --source {w}/photos"),
        ("--source {w}/photos --output {w}/out.mp4 --no-display", "the source is images, so --output names a folder"),
        ("--source {w}/clip.avi --output {w}/annotated --no-display", "--output {w}/annotated: name a video file"),
        ("--source {w}/clip.avi --output {w}/run.curves.png --no-display", "name a video file"),
        ("--source {w}/clip.avi --jsonl {w}/clip.avi --no-display", "--jsonl {w}/clip.avi: would write over"),
        ("--source {w}/clip.avi --jsonl {w}/run.log.jsonl --no-display", "run.log.jsonl already exists"),
        ("--source {w}/clip.avi --output {w}/a.avi --jsonl {w}/a.avi --no-display", "are the same place"),
        ("--source {w}/clip.avi --model {w}/model_ten_outputs.npz --no-display", "gives outputs of shape (10,)"),
        ("--source {w}/clip.avi --model {w}/model_pickle.npz --no-display", "holds Python objects"),
        ("--source {w}/clip.avi --scale-factor 1.0 --no-display", "argument --scale-factor: must be in (1, 3], "
                                                                   "got 1.0"),
        ("--source {w}/clip.avi --detector yunet --scale-factor 1.2 --no-display", "--scale-factor is an option of "
                                                                                   "the other detector, not yunet"),
        ("--source {w}/clip.avi --detector haar --min-score 0.5 --no-display", "--min-score is an option of the "
                                                                               "other detector, not haar"),
        ("--source {w}/clip.avi --detector retina --no-display", "argument --detector: invalid choice: 'retina'"),
        ("--source {w}/clip.avi --min-score 2 --no-display", "argument --min-score: must be in [0, 1], got 2"),
        ("--source {w}/clip.avi --confirm 4 --confirm-window 3 --no-display", "--confirm cannot exceed "
                                                                              "--confirm-window"),
        ("--source {w}/clip.avi --confirm 0 --no-display", "argument --confirm: must be in [1, 10], got 0"),
        ("--source {w}/clip.avi --detect-width 0 --no-display", "argument --detect-width: must be in [32, 16384]"),
        ("--source {w}/clip.avi --min-face 0 --no-display", "argument --min-face: must be at least 1"),
        ("--source {w}/clip.avi --min-neighbors -1 --no-display", "argument --min-neighbors: must be in [0, 100]"),
        ("--source {w}/clip.avi --smooth 1 --no-display", "argument --smooth: must be in [0, 1), got 1"),
        ("--source {w}/clip.avi --detect-every 0 --no-display", "argument --detect-every: must be at least 1"),
    ],
    "explain": [
        ("", "the following arguments are required: --image"),
        ("--image {w}/missing.png --out {w}/e", "missing.png: cannot read"),
        ("--image {w}/huge.png --out {w}/e", "huge.png: declares more than the 100 megapixels fer_app reads"),
        ("--image {w}/broken.png --out {w}/e", "broken.png: not a readable image"),
        ("--image {w}/empty.png --out {w}/e", "empty.png: not a readable image"),
        ("--image {w}/folder.png --out {w}/e", "folder.png: cannot read"),
        ("--image {w}/notes.txt --out {w}/e", "notes.txt: not a readable image"),
        ("--image {w}/photos/p1.png --out {w}/photos/p1.png", "--out {w}/photos/p1.png: would write over --image"),
        ("--image {w}/photos/p1.png --out {w}/photos", "would write over --image {w}/photos/p1.png"),
        ("--image {w}/photos/p1.png --out {w}/model.npz", "--out {w}/model.npz: is a file; it must name a folder"),
        ("--image {w}/photos/p1.png --model {w}/model_kernel0.npz --out {w}/e", "kernel_size must be an integer"),
        ("--image {w}/photos/p1.png --model {w}/model_dense.npz --out {w}/e", "has no convolutional layer"),
        ("--image {w}/photos/p1.png --detector retina --out {w}/e", "argument --detector: invalid choice"),
        ("--image {w}/photos/p1.png --model {w}/ensemble.npz --out {w}/e", "is an ensemble of 2 networks; explain "
                                                                           "looks inside one"),
    ],
    "ensemble": [
        ("--models {w}/model.npz", "the following arguments are required: --out"),
        ("--models {w}/model.npz --out {w}/e.npz", "--models: give at least two models to join"),
        ("--models {w}/model.npz {w}/missing.npz --out {w}/e.npz", "missing.npz: no such file"),
        ("--models {w}/model.npz {w}/model_ten_outputs.npz --out {w}/e.npz", "gives outputs of shape (10,)"),
        ("--models {w}/model.npz {w}/run.ckpt.npz --out {w}/e.npz", "is a training state (a checkpoint)"),
        ("--models {w}/model.npz {w}/model_dense.npz --out {w}/model.npz --overwrite", "--out {w}/model.npz: would "
                                                                                         "write over --models"),
        ("--models {w}/model.npz {w}/model_dense.npz --out {w}/ensemble.npz", "ensemble.npz already exists"),
    ],
    "export": [
        ("--model {w}/model.npz", "the following arguments are required: --out"),
        ("--model {w}/missing.npz --out {w}/m.onnx", "missing.npz: no such file"),
        ("--model {w}/run.ckpt.npz --out {w}/m.onnx", "is a training state (a checkpoint)"),
        ("--model {w}/model_ten_outputs.npz --out {w}/m.onnx", "gives outputs of shape (10,)"),
        ("--model {w}/model.npz --out {w}/model.npz --overwrite", "--out {w}/model.npz: would write over --model"),
        ("--model {w}/model.npz --out {w}/ensemble.npz", "ensemble.npz already exists"),
    ],
    "demo": [
        ("--out {w}/model.npz", "--out {w}/model.npz: is a file; it must name a folder"),
        ("--out {w}/photos/p1.png", "is a file; it must name a folder"),
        ("--per-class 0 --out {w}/d", "argument --per-class: must be in [1, 10000], got 0"),
        ("--per-class 1e9 --out {w}/d", "argument --per-class: must be an integer"),
        ("--seed -3 --out {w}/d", "argument --seed: must be in [0, 4294967295]"),
    ],
}


ALL_CASES = [(command, argv, message) for command, cases in CASES.items() for argv, message in cases]
NEEDS_YUFACE = pytest.mark.skipif(importlib.util.find_spec("yuface") is None, reason="yuface not installed (YuNet: "
                                                                                     "Linux x86-64, CPython 3.9-3.11)")


def with_marks(cases, name, uses_yunet):
    """The cases as pytest params, those that use the yunet detector skipped where yuface is missing."""
    return [pytest.param(*case, marks=[NEEDS_YUFACE] if uses_yunet(case) else [], id=name(case)) for case in cases]


@pytest.mark.parametrize("command,argv,message", with_marks(ALL_CASES, lambda c: f"{c[0]}: {c[1]}",
                                                             lambda c: "yunet" in c[1]))
def test_each_mistake_ends_in_one_line_and_changes_no_file(w, capsys, monkeypatch, tmp_path, command, argv, message):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))         # dataset caches go here, not to ~/.cache
    before = snapshot(w)
    try:
        code = COMMANDS[command]([a.format(w=w, empty="") for a in argv.split()])
    except SystemExit as e:          # argparse's way out
        code = e.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(("error: ", f"python -m fer_app.{command}: error: ")), err
    assert message.format(w=w) in lines[0]
    assert snapshot(w) == before


@pytest.mark.filterwarnings("ignore:overflow encountered", "ignore:invalid value encountered")
def test_an_existing_model_survives_a_failed_overwrite(w, capsys):
    before = (w / "run.npz").read_bytes()
    assert train.main(["--data", "demo", "--epochs", "1", "--lr", "1e12", "--no-augment", "--quiet", "--overwrite",
                       "--out", str(w / "run.npz")]) == 2
    assert (w / "run.npz").read_bytes() == before and "error: the loss became" in capsys.readouterr().err


API_CASES = [
    (lambda w: EmotionRecognizer(w / "model.npz", "haar", scale_factor=1.0), "scale_factor must be in (1, 3], got 1.0"),
    (lambda w: EmotionRecognizer(w / "model.npz", max_side=0), "max_side must be in [32, 16384], got 0"),
    (lambda w: EmotionRecognizer(w / "model.npz", "haar", max_side=0), "max_side must be in [32, 16384], got 0"),
    (lambda w: EmotionRecognizer(w / "model.npz", min_face=-1), "min_face must be at least 1"),
    (lambda w: EmotionRecognizer(w / "model.npz", "haar", min_neighbors=2.5), "min_neighbors must be an integer"),
    (lambda w: EmotionRecognizer(w / "model.npz", "yunet", min_score=1.5), "min_score must be in [0, 1], got 1.5"),
    (lambda w: EmotionRecognizer(w / "model.npz", "yunet", scale_factor=1.2), "scale_factor: not an option of the "
                                                                               "yunet detector"),
    (lambda w: EmotionRecognizer(w / "model.npz", "haar", min_score=0.5), "min_score: not an option of the haar"),
    (lambda w: EmotionRecognizer(w / "model.npz", margin=-0.5), "margin must be in [-0.2, 1], got -0.5"),
    (lambda w: EmotionRecognizer(w / "model.npz", detector="yolo"), "unknown detector 'yolo'"),
    (lambda w: EmotionRecognizer(w / "model.npz", tta="ten"), "tta must be one of None, mirror, crops, got 'ten'"),
    (lambda w: EmotionRecognizer(w / "missing.npz"), "missing.npz: no such file"),
    (lambda w: EmotionRecognizer(w / "model_ten_outputs.npz"), "gives outputs of shape (10,)"),
    (lambda w: EmotionRecognizer(w / "model.npz").detect_emotions(None), "expected an image, got None: cv2.imread "
                                                                         "gives None when the file is missing"),
    (lambda w: EmotionRecognizer(w / "model.npz").detect_emotions(str(w / "missing.jpg")), "missing.jpg: cannot read"),
    (lambda w: EmotionRecognizer(w / "model.npz").detect_emotions(w / "faces.csv"), "faces.csv: not a readable image"),
    (lambda w: EmotionRecognizer(w / "model.npz").find_faces([[1, 2]]), "expected an image as a uint8 NumPy array"),
    (lambda w: EmotionRecognizer(w / "model.npz").detect_emotions(np.zeros((4, 4), np.float64)), "uint8"),
    (lambda w: EmotionRecognizer(w / "model.npz").detect_emotions(np.zeros((0, 5, 3), np.uint8)), "uint8"),
    (lambda w: EmotionRecognizer(w / "model.npz").detect_emotions(np.zeros((4, 4, 5), np.uint8)),
     "expected a grey, BGR or BGRA image"),
    (lambda w: minicnn.load(w / "model_huge_dense.npz"), "declares (1000000, 1000000)"),
    (lambda w: minicnn.load(w / "model_kernel0.npz"), "kernel_size must be an integer at least 1, got 0"),
    (lambda w: minicnn.load(w / "model_pickle.npz"), "holds Python objects"),
    (lambda w: minicnn.load(w / "model_string_weights.npz"), "holds <U1 values, not numbers"),
    (lambda w: minicnn.load(w / "model_truncated.npz"), "not a readable .npz file"),
    (lambda w: minicnn.load(w / "faces.csv"), "not a readable .npz file"),
    (lambda w: minicnn.load(w / "model.npz", max_bytes=1000), "would unpack to over"),
    (lambda w: L.Conv2D(1, 1, 3, padding=-1), "Conv2D padding must be an integer between 0 and 64, got -1"),
    (lambda w: L.Dense(0, 3), "Dense in_features must be an integer at least 1, got 0"),
    (lambda w: L.MaxPool2D(2, stride=0), "MaxPool2D stride must be an integer at least 1, got 0"),
    (lambda w: L.BatchNorm2D(4, momentum=2), "BatchNorm momentum must be in [0, 1], got 2"),
    (lambda w: L.LeakyReLU(alpha="x"), "LeakyReLU alpha must be a number"),
]


@pytest.mark.parametrize("call,message", with_marks(API_CASES, lambda c: c[1],
                                                    lambda c: "yunet" in c[0].__code__.co_consts))
def test_api_mistakes_raise_one_line_value_errors(w, call, message):
    before = snapshot(w)
    with pytest.raises(ValueError) as info:
        call(w)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert snapshot(w) == before


def test_a_very_thin_image_has_no_face_and_no_error(w):
    recognizer = EmotionRecognizer(w / "model.npz")
    assert recognizer.detect_emotions(cv2.imread(str(w / "strip.png"))) == []
    assert recognizer.detect_emotions(np.zeros((4000, 2), np.uint8)) == []
    assert recognizer.detect_emotions(w / "strip.png") == []          # read from its path



def test_a_bug_keeps_its_traceback_and_a_refused_file_is_one_line(capsys):
    def bug():
        raise ValueError("a programming mistake")

    def unwritable():
        open("/proc/version/child", "w")

    with pytest.raises(ValueError, match="a programming mistake"):
        cli.run_command(bug)
    assert cli.run_command(unwritable) == 2
    assert capsys.readouterr().err.strip() == "error: /proc/version/child: Not a directory"


def test_a_run_left_to_its_default_name_takes_the_next_free_number(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "demo-tiny.ckpt.npz").write_bytes(b"an earlier, unfinished run")
    (tmp_path / "runs" / "demo-tiny-2.npz").write_bytes(b"an earlier model")
    with ExitStack() as held:
        config = runs.claim_run_files(TrainConfig().for_data("demo"), "demo", out_named=False, held=held)
    assert config.out == "runs/demo-tiny-3.npz"
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["demo-tiny-2.npz", "demo-tiny.ckpt.npz"]


def test_overwrite_clears_the_earlier_runs_checkpoint_log_and_curves(tmp_path):
    files = runs.run_files(tmp_path / "m.npz")
    for path in files.values():
        path.write_bytes(b"earlier run")
    with ExitStack() as held:
        runs.claim_run_files(TrainConfig(out=str(files["model"])).for_data("demo"), "demo", out_named=True, held=held,
                              overwrite=True)
    assert [name for name, path in files.items() if path.exists()] == ["model"]   # replaced by the first best epoch


def test_images_sharing_a_stem_get_one_annotated_copy_each(w, tmp_path, capsys):
    out = tmp_path / "annotated"
    assert live.main(["--source", str(w / "photos"), "--output", str(out), "--model", str(w / "model.npz"),
                      "--no-display"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["p0_jpg.png", "p0_png.png", "p1.png", "p2.png"]
    assert live.main(["--source", str(w / "photos"), "--output", str(out), "--model", str(w / "model.npz"),
                      "--no-display"]) == 2
    assert "p0_jpg.png and 3 more already exist" in capsys.readouterr().err
    assert live.main(["--source", str(w / "photos"), "--output", str(out), "--model", str(w / "model.npz"),
                      "--no-display", "--overwrite"]) == 0


def test_evaluate_follows_the_models_own_class_order(tmp_path, capsys):
    """A model whose metadata lists the classes in another order is scored in the data's order."""
    reordered = CLASSES[1:] + CLASSES[:1]          # happy moves from column 3 to 2
    model = constant_model(tmp_path / "always_happy.npz", favourite=reordered.index("happy"))
    arrays = read_npz(model)
    meta = json.loads(str(arrays["__meta__"]))
    arrays["__meta__"] = np.array(json.dumps(dict(meta, classes=reordered)))
    np.savez(model, **arrays)
    assert evaluate.main(["--model", str(model), "--data", "demo", "--json", str(tmp_path / "r.json")]) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["classes"] == CLASSES and result["per_class"]["happy"]["recall"] == 1.0
