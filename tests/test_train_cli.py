"""The training, evaluation and tuning commands, run as a person runs them."""
import argparse
import importlib
import json
import runpy
import signal
import time

import numpy as np
import pytest

from fer_app import callbacks, evaluate, runs, swa, train
from fer_app.classifier import ExpressionClassifier
from fer_app.data import resolve_data
from fer_app.demo import demo_splits
from fer_app.labels import CLASSES
from fer_app.preprocess import Preprocessing, center_crop
from minicnn.serialization import ModelFileError, load, read_npz

from .helpers import (ROOT, constant_model, pixels, run_module, small_fer2013_csv, start_module, untrained_model,
                      write_csv)

TINY = ["--arch", "tiny", "--threads", "2", "--quiet", "--checkpoint-minutes", "0"]
FAST = ["--data", "demo", *TINY]


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """FAST on 1,050 training faces instead of the demo's 3,500: for tests of what a run does, not what it learns."""
    data = small_fer2013_csv(tmp_path_factory.mktemp("data") / "fer2013.csv")
    return ["--data", str(data), "--no-cache", "--lr", "0.02", *TINY]


def test_demo_training_reaches_high_validation_accuracy(tmp_path, capsys):
    out = tmp_path / "demo.npz"
    assert train.main(FAST + ["--epochs", "4", "--out", str(out)]) == 0
    log = [json.loads(line) for line in (tmp_path / "demo.log.jsonl").read_text().splitlines()]
    print(capsys.readouterr().out)
    assert len(log) == 4 and max(r["val_acc"] for r in log) >= 0.9
    assert (tmp_path / "demo.curves.png").stat().st_size > 0
    meta = read_npz(out)
    assert json.loads(str(meta["__meta__"]))["metrics"]["val_acc"] == max(r["val_acc"] for r in log)


def test_without_a_terminal_progress_comes_as_lines_and_a_slow_first_step_is_explained(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(callbacks, "PROGRESS_LINE_SECONDS", 0)
    monkeypatch.setattr(callbacks, "COMPILE_NOTE_SECONDS", 0)
    not_quiet = [a for a in FAST if a != "--quiet"]
    assert train.main(not_quiet + ["--epochs", "1", "--out", str(tmp_path / "m.npz")]) == 0
    out = capsys.readouterr().out
    assert "compiling minicnn's kernels" in out
    lines = [line for line in out.splitlines() if line.startswith("epoch 1/1: batch ")]
    assert lines and all("img/s" in line and "min left in this epoch" in line for line in lines)


def model_arrays(checkpoint):
    return {k: v for k, v in read_npz(checkpoint).items() if k.startswith(("model/", "optim/"))}


def wait_for(predicate, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def start_training(options, out, epochs):
    return start_module("fer_app.train", *options, "--epochs", epochs, "--out", out)


def test_every_command_finds_fer2013_through_fer2013_dir_or_data(tmp_path, monkeypatch, capsys):
    from fer_app.data import default_data
    monkeypatch.chdir(tmp_path)
    assert default_data() is None
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "fer2013.csv").write_text("emotion,pixels,Usage\n")
    assert default_data() == "data/fer2013.csv"
    (tmp_path / "data" / "fer2013").mkdir()
    assert default_data() == "data/fer2013"                           # the folders first
    monkeypatch.setenv("FER2013_DIR", "/somewhere/fer2013")
    assert default_data() == "/somewhere/fer2013"
    assert resolve_data(train.TrainConfig(), print) == "/somewhere/fer2013"
    assert evaluate.main([]) == 2                                        # and evaluate reads it too
    assert "/somewhere/fer2013: no such file or folder" in capsys.readouterr().err


def test_without_data_it_says_where_to_get_fer2013_and_trains_on_demo(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)                                                        # no data/ folder here
    assert train.main(["--epochs", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "FER-2013 was not found in data/fer2013" in out and "kaggle.com" in out
    assert "data: demo" in out and (tmp_path / "runs" / "demo-tiny.npz").is_file()


@pytest.fixture(scope="module")
def uninterrupted_run(tmp_path_factory, quick):
    """Model and optimizer arrays at the end of an uninterrupted 2-epoch run: what an interrupted run must reach."""
    reference = tmp_path_factory.mktemp("ref") / "m.npz"
    assert train.main(quick + ["--epochs", "2", "--out", str(reference)]) == 0     # in this process: no start-up
    return model_arrays(reference.with_suffix(".ckpt.npz"))


def test_killed_and_resumed_run_matches_uninterrupted_run(tmp_path, quick, uninterrupted_run):
    out = tmp_path / "killed" / "m.npz"
    checkpoint = out.with_suffix(".ckpt.npz")
    proc = start_training(quick, out, 2)
    assert wait_for(checkpoint.exists), "no checkpoint appeared"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = json.loads(str(read_npz(checkpoint)["__state__"]))
    assert state["epoch"] < 2, "the run finished before it could be killed"
    assert train.main(["--resume", str(checkpoint)]) == 0              # in this process: no start-up
    ref, got = uninterrupted_run, model_arrays(checkpoint)
    assert ref.keys() == got.keys() and all(np.array_equal(ref[k], got[k]) for k in ref)
    logged = [json.loads(line)["epoch"] for line in out.with_suffix(".log.jsonl").read_text().splitlines()]
    assert logged == [1, 2]             # each epoch once, however the kill fell


def test_two_runs_on_one_out_at_once_the_second_refuses_and_a_dead_runs_lock_is_taken_over(tmp_path, quick):
    out = tmp_path / "m.npz"
    first = start_training(quick, out, 500)     # running throughout, even while a cold Numba cache slows the second
    assert wait_for((tmp_path / ".m.npz.lock").exists), "the first run took no lock"
    second = run_module("fer_app.train", *quick, "--epochs", 1, "--out", out, "--overwrite")
    assert second.returncode == 2, second.stdout
    assert f"--out {out}: another run (process {first.pid}) is writing there" in second.stderr
    first.send_signal(signal.SIGINT)
    output, _ = first.communicate(timeout=300)
    assert first.returncode == 130, output                   # stopped by the Ctrl-C, untouched by the second
    assert not (tmp_path / ".m.npz.lock").exists()
    gone = start_module("fer_app.demo", "--help")             # a process that has ended: its lock is stale
    gone.communicate()
    (tmp_path / ".m.npz.lock").write_text(str(gone.pid))
    assert train.main(quick + ["--epochs", "1", "--out", str(out), "--overwrite"]) == 0


def test_a_default_out_that_a_running_run_holds_is_numbered(tmp_path, monkeypatch):
    from contextlib import ExitStack
    from fer_app.checks import writing_alone
    monkeypatch.chdir(tmp_path)
    config = train.TrainConfig().for_data("demo")
    with ExitStack() as held, writing_alone(config.out, "--out"):          # "another run", this process
        claimed = runs.claim_run_files(config, "demo", out_named=False, held=held)
        assert claimed.out == "runs/demo-tiny-2.npz" and (tmp_path / "runs" / ".demo-tiny-2.npz.lock").exists()
    assert list((tmp_path / "runs").iterdir()) == []                        # both locks released


def checkpoint_position(path):
    """(epoch, batch) of the checkpoint at ``path``, or None while there is none."""
    try:
        state = json.loads(str(read_npz(path)["__state__"]))
    except (OSError, ModelFileError):
        return None
    return state["epoch"], state["batch"]


def test_ctrl_c_mid_epoch_saves_and_resumes_exactly(tmp_path, quick, uninterrupted_run):
    out = tmp_path / "int" / "m.npz"
    # a checkpoint every step or two (each 30 ms) shows where the run is: Ctrl-C goes in once the second epoch is
    # under way, with most of its 17 batches still to come, on a fast machine as on a slow one
    proc = start_module("fer_app.train", *quick, "--checkpoint-minutes", "0.0005", "--epochs", 2, "--out", out)
    assert wait_for(lambda: (checkpoint_position(out.with_suffix(".ckpt.npz")) or (0, 0)) >= (1, 1), timeout=120)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output
    state = json.loads(str(read_npz(out.with_suffix(".ckpt.npz"))["__state__"]))
    assert state["epoch"] == 1 and state["batch"] > 0, "interrupt should land inside epoch 2"
    assert train.main(["--resume", str(out.with_suffix(".ckpt.npz"))]) == 0
    ref, got = uninterrupted_run, model_arrays(out.with_suffix(".ckpt.npz"))
    assert ref.keys() == got.keys() and all(np.array_equal(ref[k], got[k]) for k in ref)


def test_fit_runs_in_any_thread_and_stops_after_the_step_it_was_asked_to():
    import threading
    trainer = train.Trainer(train.TrainConfig(epochs=1).for_data("demo"), demo_splits(), log=lambda *a: None)

    class StopAtStepTwo(callbacks.Callback):
        def on_batch(self, trainer, data_rng):
            if trainer.batch == 2:
                trainer.stop_requested = True       # as Ctrl-C in the command does
    result = {}
    worker = threading.Thread(target=lambda: result.update(code=trainer.fit([StopAtStepTwo()])))
    worker.start()
    worker.join()
    assert result == {"code": 130} and (trainer.epoch, trainer.batch) == (0, 2)


def test_a_full_disk_keeps_the_last_good_files_and_says_so(tmp_path, capsys, monkeypatch, quick):
    import errno
    from minicnn import serialization
    out = tmp_path / "m.npz"
    assert train.main(quick + ["--epochs", "1", "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    capsys.readouterr()

    def disk_full(file, **arrays):
        with open(file, "wb") as f:
            f.write(b"half a file")
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(serialization.np, "savez_compressed", disk_full)
    assert train.main(quick + ["--resume", str(out.with_suffix(".ckpt.npz")), "--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path}/m.") and err.strip().endswith(": No space left on device")
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    changed = {name for name in before if after.get(name) != before[name]}
    assert set(after) - set(before) == set() and changed <= {"m.log.jsonl", "m.curves.png"}   # no half file


@pytest.mark.filterwarnings("ignore:overflow encountered", "ignore:invalid value encountered")
def test_nan_loss_stops_cleanly(tmp_path, capsys):
    out = tmp_path / "nan.npz"
    code = train.main(FAST + ["--epochs", "2", "--lr", "1e12", "--no-augment", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "error: the loss became" in err and "too high" in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


@pytest.mark.parametrize("module", ["fer_app.train", "fer_app.evaluate", "fer_app.tune", "fer_app.live", "fer_app.demo",
                                    "fer_app.explain", "fer_app.ensemble", "fer_app.swa"])
@pytest.mark.filterwarnings("ignore:.*found in sys.modules:RuntimeWarning")      # imported already by this file
def test_help(module, monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", [module, "--help"])
    with pytest.raises(SystemExit) as ended:
        runpy.run_module(module, run_name="__main__", alter_sys=True)       # what python -m module does
    assert ended.value.code == 0 and capsys.readouterr().out.startswith(f"usage: python -m {module}")


def test_evaluate_constructed_confusion_matrix(tmp_path, capsys):
    model = constant_model(tmp_path / "always_happy.npz", favourite=3)
    code = evaluate.main(["--model", str(model), "--data", "demo", "--split", "test",
                          "--json", str(tmp_path / "r.json"), "--plot", str(tmp_path / "cm.png")])
    printed = capsys.readouterr().out
    assert code == 0
    expected = np.zeros((7, 7), int)
    expected[:, 3] = 50                      # demo test split: 50 faces of each class, all called happy
    result = json.loads((tmp_path / "r.json").read_text())
    assert set(result) >= {"accuracy", "n", "per_class", "confusion", "classes"}
    assert np.array_equal(result["confusion"], expected) and result["n"] == 350
    assert result["accuracy"] == pytest.approx(1 / 7)
    assert result["per_class"]["happy"]["recall"] == 1.0 and result["per_class"]["happy"]["precision"] == \
        pytest.approx(1 / 7)
    assert "happy" in printed and "accuracy 0.1429" in printed
    import cv2
    image = cv2.imread(str(tmp_path / "cm.png"))
    assert image is not None and image.shape[0] > 400


def test_evaluate_names_the_model_and_data_and_says_when_they_do_not_belong_together(tmp_path, capsys, monkeypatch):
    titles = []
    monkeypatch.setattr(evaluate, "confusion_matrix_image", lambda confusion, classes, path, title: titles.append(title))
    model = constant_model(tmp_path / "always_happy.npz", favourite=3)
    assert evaluate.main(["--model", str(model), "--data", "demo", "--tta", "none", "--plot", str(tmp_path / "a.png")]) == 0
    assert titles == ["always_happy.npz on demo [test], no TTA\naccuracy 14.29% on 350 faces"]
    assert "note:" not in capsys.readouterr().out
    assert evaluate.main(["--data", "demo", "--tta", "none"]) == 0               # the shipped model
    assert "note: the shipped model learned FER-2013's photographs" in capsys.readouterr().out
    assert evaluate.main(["--data", str(tmp_path / "fer2013")]) == 2
    assert "fer2013: no such file or folder (put FER-2013 there" in capsys.readouterr().err


def test_evaluate_split_all_scores_a_whole_folder_and_the_classes_it_has(tmp_path, capsys):
    import cv2
    rng = np.random.default_rng(0)
    for label, n in (("happy", 4), ("sad", 2)):            # a user's photos: two of the seven classes
        (tmp_path / "mine" / label).mkdir(parents=True)
        for k in range(n):
            cv2.imwrite(str(tmp_path / "mine" / label / f"{k}.png"), rng.integers(0, 256, (48, 48), dtype=np.uint8))
    model = constant_model(tmp_path / "neutral_then_sad.npz", favourite=6, runner_up=4)
    assert evaluate.main(["--model", str(model), "--data", str(tmp_path / "mine"), "--split", "all", "--no-cache",
                          "--tta", "none", "--json", str(tmp_path / "r.json")]) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["n"] == 6 and result["accuracy"] == 0                # always neutral, which is not there
    assert result["per_class"]["happy"]["support"] == 4 and result["per_class"]["sad"]["support"] == 2
    assert result["present_classes"] == ["happy", "sad"]
    assert result["accuracy_present"] == pytest.approx(2 / 6)          # of happy and sad, always sad
    assert "accuracy 0.3333 with the answers restricted to the 2 classes present (happy, sad)" in \
        capsys.readouterr().out


def test_init_starts_from_a_models_weights_and_cycles_leave_a_snapshot_each(tmp_path, capsys, monkeypatch, quick):
    first = untrained_model(tmp_path / "first.npz", seed=5)
    config = train.TrainConfig(init=str(first)).for_data("demo")
    trainer = train.Trainer(config, demo_splits(), log=lambda *a: None)
    started = trainer.model.state_dict()
    for key, value in read_npz(first).items():
        if key[0].isdigit():
            np.testing.assert_array_equal(started[key], value)
    assert trainer.preprocessing == Preprocessing()                  # the init model's standardisation ...
    fitted = train.Trainer(train.TrainConfig().for_data("demo"), demo_splits(), log=lambda *a: None)
    assert fitted.preprocessing != Preprocessing()                   # ... not the one measured on the demo faces

    out = tmp_path / "snap.npz"
    assert train.main(quick + ["--epochs", "2", "--cycles", "2", "--init", str(first), "--out", str(out)]) == 0
    log = [json.loads(line) for line in (tmp_path / "snap.log.jsonl").read_text().splitlines()]
    assert [r["lr"] for r in log] == pytest.approx([0.02, 0.02])      # one-epoch cycles: each restarts at 0.02
    for cycle, epoch in ((1, 1), (2, 2)):
        meta = json.loads(str(read_npz(tmp_path / f"snap.cycle-{cycle}.npz")["__meta__"]))
        assert meta["metrics"]["val_acc"] == log[epoch - 1]["val_acc"] and meta["training"]["init"] == str(first)
    assert "snapshot: " in capsys.readouterr().out
    # the snapshots' weights averaged (SWA), their BatchNorm statistics recomputed on a dataset's training faces
    rng = np.random.default_rng(0)
    write_csv(tmp_path / "faces.csv", [(i % 7, pixels(rng), "Training") for i in range(40)])
    snapshots = [tmp_path / f"snap.cycle-{cycle}.npz" for cycle in (1, 2)]
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert swa.main([*map(str, snapshots), str(tmp_path / "faces.csv"), str(tmp_path / "swa.npz")]) == 0
    arrays = [read_npz(path) for path in snapshots + [tmp_path / "swa.npz"]]
    for key in (k for k, v in arrays[0].items() if v.dtype.kind == "f"):
        mean = (arrays[0][key] + arrays[1][key]) / 2
        assert np.allclose(arrays[2][key], mean) == (".running_" not in key), key    # statistics: recomputed
    meta = json.loads(str(arrays[2]["__meta__"]))
    assert meta["weights"] == f"the average of {snapshots[0]}, {snapshots[1]}" and "metrics" not in meta
    snapshot_training = json.loads(str(arrays[0]["__meta__"]))["training"]
    assert meta["training"] == snapshot_training                       # one run: its configuration
    other_run = tmp_path / "other_run.npz"                             # another run's file, as step 9 mixed two
    retrained = load(first)
    retrained.save(other_run, metadata=dict(retrained.metadata, training=dict(snapshot_training, seed=99)))
    assert swa.main([str(snapshots[0]), str(other_run), str(tmp_path / "faces.csv"), str(tmp_path / "mix.npz")]) == 0
    mixed = json.loads(str(read_npz(tmp_path / "mix.npz")["__meta__"]))["training"]
    assert mixed == [snapshot_training, dict(snapshot_training, seed=99)]
    other = tmp_path / "other.npz"                                     # another run's preprocessing
    renormed = load(first)
    renormed.save(other, metadata=dict(renormed.metadata, preprocessing=dict(equalize="none", mean=0.4, std=0.2)))
    args = (snapshots[0], other, tmp_path / "faces.csv", tmp_path / "swa2.npz")
    capsys.readouterr()
    assert swa.main(list(map(str, args))) == 2 and f"MODEL {other}: other preprocessing" in capsys.readouterr().err
    assert not (tmp_path / "swa2.npz").exists()
    # snapshots are a run's files: a run at the same --out is refused while they are there, and --overwrite
    # clears them even when the new run makes none
    for name in ("snap.npz", "snap.ckpt.npz", "snap.log.jsonl", "snap.curves.png"):
        (tmp_path / name).unlink()
    assert train.main(quick + ["--epochs", "1", "--out", str(out)]) == 2
    assert "snap.cycle-1.npz" in capsys.readouterr().err
    assert train.main(quick + ["--epochs", "1", "--out", str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in tmp_path.glob("snap.*")) == ["snap.ckpt.npz", "snap.curves.png", "snap.log.jsonl",
                                                               "snap.npz"]


def test_a_net_trained_on_random_crops_is_used_and_normalised_on_the_centre_crop_as_it_was_validated(tmp_path, capsys):
    out = tmp_path / "crop.npz"
    assert train.main(FAST + ["--epochs", "1", "--crop", "40", "--width", "0.5", "--out", str(out)]) == 0
    meta = json.loads(str(read_npz(out)["__meta__"]))
    assert meta["input_shape"] == [1, 40, 40] and read_npz(out)["0.weight"].shape == (4, 1, 3, 3)   # tiny: 8 → 4
    assert evaluate.main(["--model", str(out), "--data", "demo", "--split", "val", "--tta", "none"]) == 0
    assert f"accuracy {meta['metrics']['val_acc']:.4f} on 350 faces" in capsys.readouterr().out
    assert evaluate.main(["--model", str(out), "--data", "demo", "--split", "val"]) == 0
    assert "[val] with crops TTA" in capsys.readouterr().out           # the default: ten views of each face
    # its BatchNorm statistics are those of its training faces as inference sees them: centre crops, not augmented
    member = ExpressionClassifier(out).members[0]
    saved = {k: v.copy() for k, v in member.model.state_dict().items() if ".running_" in k}
    assert len(saved) == 6                                              # tiny: three BatchNorms
    faces = member.preprocessing(demo_splits(0)["train"][0])      # 3,500 faces: all of them, in the order
    shuffled = np.random.default_rng(0).permutation(len(faces))        # the run's seed (0) shuffles them
    member.model.recompute_batchnorm_statistics(center_crop(faces[shuffled], 40))
    for key, value in saved.items():
        np.testing.assert_allclose(member.model.state_dict()[key], value, rtol=1e-5, atol=1e-6)


def test_a_student_learns_its_teachers_soft_targets(tmp_path, capsys):
    teacher = constant_model(tmp_path / "always_happy.npz", favourite=CLASSES.index("happy"))
    out = tmp_path / "student.npz"
    assert train.main(FAST + ["--epochs", "1", "--teacher", str(teacher), "--distill-weight", "1",
                              "--distill-temperature", "2", "--out", str(out)]) == 0
    assert f"teacher: {teacher}, soft targets of" in capsys.readouterr().out
    faces = demo_splits()["val"][0]
    predicted = ExpressionClassifier(out).predict_proba(faces).argmax(1)
    assert (predicted == CLASSES.index("happy")).mean() > 0.9          # the labels had no say (weight 1)
    # the checkpoint keeps the soft targets: a resumed run does not ask the teacher again (here it is gone)
    teacher.unlink()
    checkpoint = tmp_path / "student.ckpt.npz"
    assert train.main(["--resume", str(checkpoint), "--epochs", "2"]) == 0
    assert f"soft targets of 3500 faces at temperature 2 from {checkpoint}" in capsys.readouterr().out


def test_batches_prepared_by_a_worker_thread_train_exactly_as_batches_prepared_in_turn(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor
    from fer_app.demo import make_faces
    splits = {"train": make_faces(20, 0), "val": make_faces(5, 1)}          # 140 and 35 faces
    batches = np.array_split(np.random.default_rng(5).permutation(140), 5)
    runs = {}
    for how in ("in turn", "worker thread"):          # the GPU path's worker, here on the CPU
        if how == "worker thread":
            monkeypatch.setattr(train, "InlineExecutor", lambda: ThreadPoolExecutor(1))
        trainer = train.Trainer(train.TrainConfig(epochs=1).for_data("demo"), splits, log=lambda *a: None)
        draws = []                                    # a draw from the stream each callback is handed

        class Record(callbacks.Callback):
            def on_batch(self, trainer, data_rng):
                draws.append(data_rng.random())

        assert trainer.train_batches(batches, np.random.default_rng(0), [Record()])
        runs[how] = trainer.model.state_dict(), draws
    reference, expected = np.random.default_rng(0), []
    for idx in batches:                               # the stream after each batch, prepared one after another
        trainer.prepare(idx, reference)
        twin = np.random.Generator(type(reference.bit_generator)())
        twin.bit_generator.state = reference.bit_generator.state
        expected.append(twin.random())
    (weights, draws), (weights_worker, draws_worker) = runs["in turn"], runs["worker thread"]
    assert draws == draws_worker == expected
    assert all(np.array_equal(weights[k], weights_worker[k]) for k in weights)


def test_finetune_gpu_builds_each_run_as_the_recipe_with_its_one_change_and_seed(monkeypatch):
    """tools/finetune_gpu.py: each run's command is one fer_app.train understands, the sixth run's
    recipe with the run's own change (None: the option left out) and its seed plus --seed-offset."""
    monkeypatch.syspath_prepend(str(ROOT / "tools"))
    finetune = importlib.import_module("finetune_gpu")
    runs = argparse.Namespace(data="DATA", init="INIT.npz", device="cuda", seed_offset=10)
    options = {name: train.parse_args(finetune.train_command(name, runs, ROOT / "out")[3:]).options
               for name in ("a1", "c1", "e1")}
    assert (options["a1"].seed, options["a1"].teacher, options["a1"].init) == (121, "INIT.npz", "INIT.npz")
    assert (options["a1"].lr, options["a1"].lowres, options["a1"].noise, options["a1"].rotation) == (0.002, 0.25,
                                                                                                     0.02, 5.0)
    assert options["a1"].cycles == options["a1"].epochs      # one cycle an epoch: a snapshot every epoch
    assert options["c1"].teacher is None and options["c1"].lowres == 0.25
    assert (options["e1"].noise, options["e1"].lowres, options["e1"].seed) == (0.0, 0.0, 128)
