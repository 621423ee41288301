"""fer_app.tune on Optuna, on the demo data: workers sharing one SQLite study, a killed worker, pruning,
the results it writes, and what happens without Optuna or with a storage it cannot use."""
import contextlib
import json
import signal
import sqlite3
import sys
import time

import pytest

from fer_app import train, tune

from .helpers import run_module, small_fer2013_csv, start_module

optuna = pytest.importorskip("optuna", reason='Optuna not installed (pip install -e ".[tune]")')

# each trial: the tiny net, one thread, on a stratified 1,400 of the 3,500 demo faces
FAST = ["--data", "demo", "--arch", "tiny", "--subset", "1400", "--threads", "1"]


def load(out, study="s"):
    return optuna.load_study(study_name=study, storage=f"sqlite:///{out / 'study.db'}")


def a_running_trial_has_beaten(out):
    """Its worker has recorded a heartbeat for a running trial (in Optuna's tables)."""
    if not (out / "study.db").exists():     # not yet created (connecting would create it under the worker)
        return False
    try:
        with contextlib.closing(sqlite3.connect(out / "study.db")) as db:
            return db.execute("SELECT COUNT(*) FROM trial_heartbeats JOIN trials USING (trial_id) "
                              "WHERE trials.state = 'RUNNING'").fetchone()[0] > 0
    except sqlite3.Error:            # the worker is still creating the database or its tables
        return False


def test_two_workers_at_once_share_one_study_and_the_best_configuration_trains(tmp_path):
    out = tmp_path / "search"
    argv = [*FAST, "--subset", "700", "--epochs", "1", "--trials", "2", "--study", "s", "--out", out]
    workers = [start_module("fer_app.tune", *argv) for _ in range(2)]
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    trials = load(out).trials
    assert len(trials) == 4 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert len({json.dumps(t.params, sort_keys=True) for t in trials}) == 4          # four different draws
    table = json.loads((out / "trials.json").read_text())
    assert [t["val_acc"] for t in table] == sorted((t.value for t in trials), reverse=True)
    assert (out / "history.png").stat().st_size > 10_000 and (out / "importance.png").stat().st_size > 10_000
    config = json.loads((out / "best_config.json").read_text())
    best = max(trials, key=lambda t: t.value)
    assert config["lr"] == best.params["lr"] and config["dropout"] == best.params["dropout"]
    model = tmp_path / "from_best.npz"
    data = small_fer2013_csv(tmp_path / "fer2013.csv")                  # shorter than the demo's epoch
    assert train.main(["--config", str(out / "best_config.json"), "--data", str(data), "--no-cache", "--epochs", "1",
                       "--quiet", "--out", str(model)]) == 0
    assert model.is_file()


def test_a_killed_worker_leaves_the_study_usable_and_the_search_resumes(tmp_path):
    out = tmp_path / "search"
    argv = [*FAST, "--subset", "700", "--epochs", "4", "--study", "s", "--out", out, "--heartbeat", "1"]
    worker = start_module("fer_app.tune", *argv, "--trials", "3")
    deadline = time.monotonic() + 120
    # Optuna can only find a trial stale that has beaten once: kill the worker after its running trial's first beat
    while time.monotonic() < deadline and not a_running_trial_has_beaten(out):
        time.sleep(0.2)
    worker.send_signal(signal.SIGKILL)
    worker.communicate()
    assert [t.state for t in load(out).trials] == [optuna.trial.TrialState.RUNNING]    # killed mid-trial
    # stale once its last beat is more than the grace period (twice the heartbeat) old, in SQLite's whole seconds:
    # 3 s and a margin after the kill, whenever in its second the last beat fell
    time.sleep(3.5)
    assert tune.main([*map(str, argv), "--trials", "1"]) == 0            # in this process: no start-up
    states = [t.state for t in load(out).trials]
    assert states == [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.COMPLETE]


@pytest.mark.parametrize("fault", ["locked", "removed"])
def test_a_study_database_lost_mid_search_stops_the_worker_in_one_line(tmp_path, monkeypatch, capsys, fault):
    out = tmp_path / "search"
    database, holder, fit = out / "study.db", [], tune.Trainer.fit

    def fault_in_second_trial(trainer, callbacks=()):
        if len(load(out).trials) == 2:
            if fault == "locked":          # another process holds the file, longer than a worker waits
                holder.append(sqlite3.connect(database, isolation_level=None))
                holder[0].execute("BEGIN EXCLUSIVE")
            else:
                database.unlink()
        return fit(trainer, callbacks)
    monkeypatch.setattr(tune.Trainer, "fit", fault_in_second_trial)
    monkeypatch.setattr(tune, "SQLITE_WAIT_SECONDS", 0.5)
    assert tune.main([*FAST, "--subset", "700", "--epochs", "1", "--trials", "3", "--study", "s",
                      "--out", str(out)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    if fault == "locked":
        assert line == (f"error: --storage sqlite:///{database}: lost during the search (database is locked; the "
                        f"finished trials are kept there); this worker stops")
        holder[0].close()                                                     # the lock let go
        assert [t.state.name for t in load(out).trials][0] == "COMPLETE"      # the finished trial, intact
    else:
        assert line == (f"error: --storage sqlite:///{database}: lost during the search (the database file was "
                        f"removed); this worker stops")
        assert not database.exists() and not (out / "trials.json").exists()


def test_pruning_stops_a_trial_with_an_absurd_learning_rate(tmp_path):
    out = tmp_path / "search"
    argv = [*FAST, "--epochs", "2", "--study", "s", "--out", out, "--space", "lr=log:1e-7:0.1"]
    out.mkdir()
    study = optuna.create_study(study_name="s", storage=f"sqlite:///{out / 'study.db'}", direction="maximize")
    lr = optuna.distributions.FloatDistribution(1e-7, 0.1, log=True)
    for accuracy in (0.45, 0.5, 0.55):        # three sound trials finished before (demo's lr: 40-60 % after epoch 1)
        study.add_trial(optuna.trial.create_trial(
            params={"lr": 0.02}, distributions={"lr": lr}, value=accuracy + 0.1,
            intermediate_values={1: accuracy, 2: accuracy + 0.1},
            user_attrs={"config": {"lr": 0.02, "arch": "tiny", "epochs": 2}}))
    study.enqueue_trial({"lr": 1e-7})
    result = run_module("fer_app.tune", *argv, "--trials", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    absurd = load(out).trials[3]
    assert absurd.state.name == "PRUNED" and absurd.params == {"lr": 1e-7}
    assert list(absurd.intermediate_values) == [1] and absurd.intermediate_values[1] < 0.3   # stopped after epoch 1
    assert "3 finished, 1 pruned or failed" in result.stdout


def test_a_study_continues_only_with_its_own_settings(tmp_path, capsys):
    out = tmp_path / "search"
    assert tune.main([*FAST, "--epochs", "1", "--trials", "1", "--study", "s", "--out", str(out)]) == 0
    assert tune.main([*FAST, "--epochs", "2", "--trials", "1", "--study", "s", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["error: --study s: this study was started with other settings (epochs); "
                                        "give another --study, or the same settings to continue it"]


@pytest.mark.parametrize("url", ["nosuchdb://host/db", "not-a-url", "sqlite:////proc/version/x.db"])
def test_a_storage_it_cannot_use_is_one_line(tmp_path, capsys, url):
    assert tune.main([*FAST, "--out", str(tmp_path / "t"), "--storage", url]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: --storage {url}: cannot use it (")


def test_without_optuna_it_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)     # import optuna now raises ImportError
    assert tune.main([*FAST, "--out", str(tmp_path / "t")]) == 2
    assert capsys.readouterr().err.strip() == 'error: fer_app.tune needs Optuna: pip install -e ".[tune]"'


def test_grid_values_and_the_space_grammar():
    lr, dropout, arch = tune.parse_space("lr=log:0.001:0.1 dropout=0.2|0.4 arch=tiny|small")
    assert lr.grid(3) == pytest.approx([0.001, 0.01, 0.1]) and lr.log
    assert dropout.grid(3) == [0.2, 0.4] and arch.choices == ("tiny", "small")
    (batch,) = tune.parse_space("batch_size=32:34")
    assert batch.choices == (32, 33, 34)
