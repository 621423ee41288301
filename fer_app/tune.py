"""Hyper-parameter search on Optuna: ``python -m fer_app.tune --data PATH``.

Each trial trains briefly (``--epochs``, optionally on a stratified ``--subset`` of the training split)
with options drawn from the search space, and reports its validation accuracy after every epoch, so
that the pruner stops a trial that is far below the others.  Trials live in an Optuna study kept in a
database: by default a SQLite file in the output folder, so an interrupted search continues where it
stopped (a killed worker's running trial is marked failed); with ``--storage`` naming a shared database
(e.g. PostgreSQL), workers started on any number of machines with the same ``--study`` share one search.

Writes into ``--out``: trials.json (every trial, best first), best_config.json (what
``fer_app.train --config`` accepts), history.png and importance.png.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from minicnn import set_num_threads

from . import cli
from .augment import Augmentation
from .callbacks import Callback
from .checks import POSITIVE_INT, SEED, Range, UserError, check_outputs
from .cli import run_command
from .data import detect_layout, resolve_data, stratified_split
from .models import ARCHITECTURES
from .plots import importance_chart, search_history
from .config import TrainConfig
from .train import Trainer, TrainingError, load_splits

STORAGE_ATTEMPTS = 4       # opening a new shared database, for workers that start at the same moment
SQLITE_WAIT_SECONDS = 60   # how long a worker waits for a SQLite study that another process holds locked
MAX_AUG_STRENGTH = 4       # beyond this, shift and contrast leave the ranges fer_app.train accepts
AUG_FIELDS = ("rotation", "shift", "zoom", "brightness", "contrast", "noise", "erase")
# what a trial may vary, and the values fer_app.train accepts for each (TrainConfig's own ranges)
OPTION_RANGES = {f.name: f.metadata["allowed"] for f in fields(TrainConfig)}
SEARCHABLE = {**{name: OPTION_RANGES[name] for name in ("lr", "dropout", "weight_decay", "label_smoothing", "momentum")},
              "aug_strength": Range(0, MAX_AUG_STRENGTH), "arch": OPTION_RANGES["arch"],
              "batch_size": OPTION_RANGES["batch_size"]}
DEFAULT_SPACE = "lr=log:0.005:0.1 dropout=0.2:0.6 weight_decay=log:1e-5:1e-3 label_smoothing=0:0.2 aug_strength=0.5:1.5"
SPACE_HELP = ("what the trials vary: space-separated NAME=SPEC, SPEC being LOW:HIGH (uniform), log:LOW:HIGH "
              "(log-uniform), A|B|C (one of these) or a single value; NAME one of " + ", ".join(SEARCHABLE))


@dataclass(frozen=True)
class Param:
    """One searched option: a range (uniform or log-uniform) or a list of choices."""
    name: str
    low: float = None
    high: float = None
    log: bool = False
    choices: tuple = None

    def suggest(self, trial):
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)

    def grid(self, points):
        """``points`` values spread over the range (geometrically for log), or the choices."""
        if self.choices is not None:
            return list(self.choices)
        if self.log:
            return [float(v) for v in np.geomspace(self.low, self.high, points)]
        return [float(v) for v in np.linspace(self.low, self.high, points)]


def parse_param(entry):
    """One NAME=SPEC entry of --space as a Param; ArgumentTypeError naming what is wrong."""
    name, _, spec = entry.partition("=")
    allowed = SEARCHABLE.get(name)
    if allowed is None:
        raise argparse.ArgumentTypeError(f"unknown parameter {name!r} (searchable: {', '.join(SEARCHABLE)})")
    if not spec:
        raise argparse.ArgumentTypeError(f"{name}: give a SPEC after '='")
    if isinstance(allowed, (list, tuple)):              # names, such as an architecture
        choices = tuple(spec.split("|"))
        unknown = [c for c in choices if c not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(f"{name}: unknown value {unknown[0]!r} (choose from {', '.join(allowed)})")
        return Param(name, choices=choices)

    def number(text):
        try:
            return allowed(text)
        except argparse.ArgumentTypeError as e:
            raise argparse.ArgumentTypeError(f"{name}: {e}") from None

    log = spec.startswith("log:")
    bounds = spec[4:].split(":") if log else spec.split(":")
    if "|" in spec or len(bounds) == 1 and not log:
        return Param(name, choices=tuple(number(v) for v in spec.split("|")))
    if len(bounds) != 2:
        raise argparse.ArgumentTypeError(f"{name}: expected LOW:HIGH or log:LOW:HIGH, got {spec!r}")
    low, high = number(bounds[0]), number(bounds[1])
    if not low < high or (log and low <= 0):
        raise argparse.ArgumentTypeError(f"{name}: expected LOW < HIGH{' and LOW > 0' if log else ''}, got {spec!r}")
    if allowed.integer:
        return Param(name, choices=tuple(range(int(low), int(high) + 1)))
    return Param(name, float(low), float(high), log)


def parse_space(text):
    """--space: the Params, one per name."""
    params = [parse_param(entry) for entry in text.split()]
    if not params:
        raise argparse.ArgumentTypeError("give at least one NAME=SPEC")
    names = [p.name for p in params]
    if len(set(names)) < len(names):
        raise argparse.ArgumentTypeError("each parameter once")
    return params


def build_parser():
    p = cli.parser("tune", __doc__.split("\n\n")[0])
    g = p.add_argument_group("what each trial trains")
    g.add_argument("--data", help="dataset, as for fer_app.train (default: as fer_app.train)")
    g.add_argument("--arch", choices=sorted(ARCHITECTURES), help="architecture, unless the space varies it "
                                                                 "(default: as fer_app.train)")
    g.add_argument("--epochs", type=POSITIVE_INT, default=2, help="epochs per trial")
    g.add_argument("--subset", type=POSITIVE_INT, help="train each trial on this many training images, stratified "
                                                       "(default: all)")
    g.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd", help="SGD with momentum, or Adam")
    g.add_argument("--seed", type=SEED, default=0, help="random seed of each trial's training (the sampler draws "
                                                        "afresh in every worker, so that workers never repeat "
                                                        "each other)")
    g = p.add_argument_group("the search")
    g.add_argument("--space", type=parse_space, default=DEFAULT_SPACE, help=SPACE_HELP)   # (argparse parses it)
    g.add_argument("--sampler", choices=("tpe", "random", "grid"), default="tpe",
                   help="Optuna's TPE, random draws, or every combination of --grid-points values per range")
    g.add_argument("--grid-points", type=Range(2, 10, integer=True), default=3, help="values per range for --sampler grid")
    g.add_argument("--pruner", choices=("median", "none"), default="median",
                   help="median: stop a trial whose val accuracy after an epoch is below the median of earlier "
                        "trials' at that epoch (from the 4th trial on)")
    g.add_argument("--trials", type=POSITIVE_INT, default=8, help="trials each worker runs")
    g.add_argument("--jobs", type=Range(1, 64, integer=True), default=1,
                   help="worker processes on this machine, each with its share of the cores")
    g = p.add_argument_group("where the study lives")
    g.add_argument("--study", help="study name; workers with the same name and storage share a search "
                                   "(default: <data>-<arch>)")
    g.add_argument("--storage", help="database URL, e.g. postgresql://user:password@host/db "
                                     "(default: sqlite:///<out>/study.db)")
    g.add_argument("--out", help="folder for the results (default: runs/tune/<study>)")
    g.add_argument("--heartbeat", type=Range(1, 3600, integer=True), default=60,
                   help="seconds between a worker's signs of life; a running trial silent for twice this is "
                        "marked failed")
    g.add_argument("--threads", type=Range(1, 1024, integer=True),
                   help="threads per worker (default: the cores this process may use, shared among --jobs)")
    g.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)    # a --jobs child: trials only
    return p


def trial_options(params):
    """fer_app.train options for a trial's parameter values (aug_strength scales every augmentation)."""
    options = {k: v for k, v in params.items() if k != "aug_strength"}
    if "aug_strength" in params:
        defaults, s = Augmentation(), params["aug_strength"]
        options.update({f: min(getattr(defaults, f) * s, 1.0) if f == "erase" else getattr(defaults, f) * s
                        for f in AUG_FIELDS})
    return options


def import_optuna():
    try:
        import optuna
    except ImportError:
        raise UserError('fer_app.tune needs Optuna: pip install -e ".[tune]"') from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def settle(args):
    """Fill in the data, study name, output folder and storage URL that were left to their defaults."""
    args.data = resolve_data(TrainConfig(data=args.data), print)
    if args.data != "demo":
        detect_layout(args.data)             # a missing or foreign path: say so before a study is made for it
    args.arch = args.arch or TrainConfig().for_data(args.data).arch
    args.study = args.study or f"{Path(args.data).name.split('.')[0]}-{args.arch}"
    args.out = args.out or str(Path("runs") / "tune" / args.study)
    if args.storage is None:
        args.storage = f"sqlite:///{Path(args.out).resolve() / 'study.db'}"
    check_outputs([("--out", args.out, [])], [("--data", None if args.data == "demo" else args.data)])


def open_study(args, optuna):
    """The study (created, or joined with the same setup); UserError for a storage it cannot use."""
    import sqlalchemy.exc
    if args.storage.startswith("sqlite:"):
        Path(args.out).mkdir(parents=True, exist_ok=True)
    engine = {"connect_args": {"timeout": SQLITE_WAIT_SECONDS}} if args.storage.startswith("sqlite:") else None
    for attempt in range(STORAGE_ATTEMPTS):
        try:
            with warnings.catch_warnings():   # the heartbeat is "experimental" in Optuna since 2.9; we rely on it
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                storage = optuna.storages.RDBStorage(args.storage, engine_kwargs=engine,
                                                     heartbeat_interval=args.heartbeat)
            break
        except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError) as e:
            # workers started together on a new database race to create its tables: the loser tries again
            racing = isinstance(e, sqlalchemy.exc.IntegrityError) or "already exists" in str(e) or "locked" in str(e)
            if not racing or attempt == STORAGE_ATTEMPTS - 1:
                raise UserError(f"--storage {args.storage}: cannot use it ({str(e).splitlines()[0]})") from None
            time.sleep(1 + attempt)
    # the sampler draws from fresh entropy: workers that share a study (or a worker resuming it) must not
    # repeat each other's draws, as one seed would make them
    sampler = {"tpe": optuna.samplers.TPESampler,
               "random": optuna.samplers.RandomSampler,
               "grid": lambda: optuna.samplers.GridSampler({p.name: p.grid(args.grid_points) for p in args.space})
               }[args.sampler]()
    pruner = optuna.pruners.MedianPruner(n_startup_trials=3) if args.pruner == "median" else optuna.pruners.NopPruner()
    study = optuna.create_study(study_name=args.study, storage=storage, sampler=sampler, pruner=pruner,
                                direction="maximize", load_if_exists=True)
    setup = {"data": str(args.data), "arch": args.arch, "epochs": args.epochs, "subset": args.subset,
             "optimizer": args.optimizer, "space": {p.name: [p.low, p.high, p.log, p.choices] for p in args.space}}
    setup = json.loads(json.dumps(setup))         # as the storage gives it back
    saved = study.user_attrs.get("setup")
    if saved is None:
        study.set_user_attr("setup", setup)
    elif saved != setup:
        changed = ", ".join(k for k in setup if setup[k] != saved.get(k))
        raise UserError(f"--study {args.study}: this study was started with other settings ({changed}); "
                        f"give another --study, or the same settings to continue it")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    return study


def work(args, optuna):
    """Run this worker's trials in the study."""
    import sqlalchemy.exc
    if args.threads:
        set_num_threads(args.threads)
    study = open_study(args, optuna)
    log = lambda *a: print(*a, flush=True)      # noqa: E731
    base = TrainConfig(data=args.data, arch=args.arch, epochs=args.epochs, optimizer=args.optimizer, seed=args.seed,
                       quiet=True)
    splits = load_splits(base, args.data, log)
    if args.subset and args.subset < len(splits["train"][1]):
        _, splits["train"] = stratified_split(splits["train"], args.subset / len(splits["train"][1]), args.seed)
    seconds = []

    def objective(trial):
        params = {p.name: p.suggest(trial) for p in args.space}
        options = trial_options(params)
        config = replace(base, **options).for_data(args.data)
        trial.set_user_attr("config", dict(options, arch=config.arch, optimizer=config.optimizer, epochs=args.epochs))
        start = time.perf_counter()

        class Report(Callback):      # each epoch's val accuracy to Optuna, which may stop the trial
            def on_epoch(self, trainer, record, improved):
                trial.report(record["val_acc"], record["epoch"])
                if record["epoch"] < args.epochs and trial.should_prune():   # (after the last epoch, nothing to save)
                    raise optuna.TrialPruned(f"val acc {record['val_acc']:.4f} after epoch {record['epoch']}")

        trainer = Trainer(config, splits, log=lambda *a: None)
        try:
            trainer.fit([Report()])
        finally:
            seconds.append(time.perf_counter() - start)
            left = args.trials - len(seconds)
            estimate = f"; about {np.mean(seconds) * left / 60:.1f} min for this worker's {left} left" if left else ""
            result = (f"val acc {trainer.best_acc:.4f} after {len(trainer.history)} epoch(s)" if trainer.history
                      else "stopped in its first epoch")
            log(f"trial {trial.number} {json.dumps(params)}: {result} ({seconds[-1]:.0f} s{estimate})")
        return trainer.best_acc

    log(f"study {args.study} in {args.storage}: {len(study.trials)} trial(s) so far; this worker runs "
        f"{args.trials} trial(s) of {args.epochs} epoch(s) on {len(splits['train'][1])} training images")
    try:
        study.optimize(objective, n_trials=args.trials, catch=(TrainingError,))
    except Exception as e:
        # the database locked past the wait, removed, or unreachable (Optuna may raise another error while
        # handling the database's)
        cause = e
        while cause is not None and not isinstance(cause, sqlalchemy.exc.OperationalError):
            cause = cause.__context__
        if cause is None:
            raise
        database = sqlite_file(args.storage)
        lost = ("the database file was removed" if database and not database.exists()
                else f"{str(cause.orig).splitlines()[0]}; the finished trials are kept there")
        raise UserError(f"--storage {args.storage}: lost during the search ({lost}); this worker stops") from None
    return study


def sqlite_file(storage):
    """The database file of a ``sqlite:///`` URL, else None."""
    return Path(storage.removeprefix("sqlite:///")) if storage.startswith("sqlite:///") else None


def start_workers(args, argv):
    """--jobs N: N worker processes of this command, each with its share of the cores; 0 if all succeed."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threads = args.threads or max(1, cores // args.jobs)
    child = [sys.executable, "-m", "fer_app.tune", *argv, "--jobs", "1", "--threads", str(threads), "--worker",
             "--data", args.data, "--arch", args.arch, "--study", args.study, "--out", args.out,
             "--storage", args.storage]
    workers = [subprocess.Popen(child) for _ in range(args.jobs)]
    return max(w.wait() for w in workers)


def report(study, out, optuna):
    """The table, trials.json, best_config.json and the two pictures, from every trial in the study."""
    log = lambda *a: print(*a, flush=True)      # noqa: E731
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        raise UserError(f"study {study.study_name}: no trial has finished yet")
    rows = sorted(study.trials, key=lambda t: -t.value if t.value is not None else math.inf)
    names = sorted({k for t in rows for k in t.params})
    header = ["trial", "state", "val_acc", "epochs", *names]
    widths = [max(10, len(h) + 2) for h in header]
    log("\n" + "".join(f"{h:>{w}}" for h, w in zip(header, widths)))
    for t in rows:
        value = "" if t.value is None else f"{t.value:.4f}"
        params = [f"{t.params[n]:.4g}" if isinstance(t.params.get(n), float) else str(t.params.get(n, ""))
                  for n in names]
        cells = [t.number, t.state.name.lower(), value, len(t.intermediate_values), *params]
        log("".join(f"{v:>{w}}" for v, w in zip(cells, widths)))
    out = Path(out)
    trials = [{"trial": t.number, "state": t.state.name.lower(), "val_acc": t.value, "params": t.params,
               "val_acc_per_epoch": {str(k): v for k, v in sorted(t.intermediate_values.items())},
               "config": t.user_attrs.get("config")} for t in rows]
    cli.write_text_atomically(out / "trials.json", json.dumps(trials, indent=2))
    best = study.best_trial
    cli.write_text_atomically(out / "best_config.json", json.dumps(best.user_attrs["config"], indent=2))
    search_history([(t.number, t.state.name.lower(), t.value) for t in study.trials], out / "history.png")
    with warnings.catch_warnings(record=True) as caught:     # Optuna warns where too few trials tell nothing
        warnings.simplefilter("always")
        try:
            importances = optuna.importance.get_param_importances(study)
        except (ValueError, RuntimeError):
            importances = {}
    if caught or len(importances) < 2:
        importances = {}
    if importances:
        importance_chart(importances, out / "importance.png")
    log(f"\nbest: trial {best.number}, val acc {best.value:.4f}: {json.dumps(best.params)}\n"
        f"{len(done)} finished, {len(study.trials) - len(done)} pruned or failed; results in {out}/ "
        f"(trials.json, history.png{', importance.png' if importances else ''})\n"
        f"train with: python -m fer_app.train --config {out / 'best_config.json'}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    return run_command(lambda: run(args, argv))


def run(args, argv):
    settle(args)
    optuna = import_optuna()
    if args.jobs > 1:
        failed = start_workers(args, argv)
        study = open_study(args, optuna)
    else:
        failed, study = 0, work(args, optuna)
    if not args.worker:
        report(study, args.out, optuna)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
