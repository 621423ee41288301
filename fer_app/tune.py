"""Hyper-parameter search: ``python -m fer_app.tune --data PATH``.

Grid or random search over learning rate and dropout (optionally weight decay and
augmentation strength).  Each trial trains briefly (``--epochs``, optionally on a
stratified ``--subset`` of the training split) and is scored by validation accuracy.
Prints a table sorted best first, writes every trial to ``--out`` (JSON) and the best
configuration to ``--best-config``, a file that ``fer_app.train --config`` accepts.
"""
import argparse
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .augment import Augmentation
from .models import ARCHITECTURES
from . import cli
from .checks import FRACTION, NON_NEGATIVE, POSITIVE, POSITIVE_INT, SEED, Range, check_outputs
from .cli import run_command
from .data import stratified_split
from .train import Trainer, TrainingError, fill_defaults, load_splits, resolve_data
from .train import parse_args as parse_train_args

MAX_AUG_STRENGTH = 4       # beyond this, shift and contrast leave the ranges fer_app.train accepts
AUG_FIELDS = ("rotation", "shift", "zoom", "brightness", "contrast", "noise", "erase")


def values(allowed):
    """An argparse type: comma-separated numbers, at least one, each within ``allowed`` (a checks.Range)."""
    def parse(text):
        items = [v for v in text.split(",") if v.strip()]
        if not items:
            raise argparse.ArgumentTypeError("give at least one value")
        return [allowed(v) for v in items]
    parse.__name__ = "list of numbers"
    return parse


def build_parser():
    p = cli.parser("tune", __doc__.split("\n\n")[0])
    p.add_argument("--data", help="dataset, as for fer_app.train (default: as fer_app.train)")
    p.add_argument("--arch", choices=sorted(ARCHITECTURES), help="architecture (default: as fer_app.train)")
    p.add_argument("--search", choices=("grid", "random"), default="grid", help="every combination, or random draws")
    p.add_argument("--trials", type=POSITIVE_INT, default=8, help="number of trials for --search random")
    p.add_argument("--lr", type=values(POSITIVE), default=[0.01, 0.05], help="learning rates to try")
    p.add_argument("--dropout", type=values(FRACTION), default=[0.3, 0.5], help="dropout rates to try")
    p.add_argument("--weight-decay", type=values(NON_NEGATIVE), help="weight decays to try (default: train's)")
    p.add_argument("--aug-strength", type=values(Range(0, MAX_AUG_STRENGTH)),
                   help="augmentation strengths to try, 1 = as fer_app.train (default: 1 only)")
    p.add_argument("--epochs", type=POSITIVE_INT, default=2, help="epochs per trial")
    p.add_argument("--subset", type=POSITIVE_INT, help="train each trial on this many training images, stratified "
                                                       "(default: all)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd", help="SGD with momentum, or Adam")
    p.add_argument("--seed", type=SEED, default=0, help="random seed (trials drawn, and each trial's training)")
    p.add_argument("--out", default="runs/tune.json", help="all trials, as JSON")
    p.add_argument("--best-config", default="runs/best_config.json", help="the best trial's options for train --config")
    p.add_argument("--overwrite", action="store_true", help="replace existing --out and --best-config files "
                                                            "(default: refuse)")
    return p


def trial_grid(args):
    space = {"lr": args.lr, "dropout": args.dropout}
    if args.weight_decay:
        space["weight_decay"] = args.weight_decay
    if args.aug_strength:
        space["aug_strength"] = args.aug_strength
    names = list(space)
    if args.search == "grid":
        return [dict(zip(names, values)) for values in itertools.product(*space.values())]
    rng = np.random.default_rng(args.seed)
    lo_hi = {k: (min(v), max(v)) for k, v in space.items()}
    trials = []
    for _ in range(args.trials):
        t = {}
        for k, (lo, hi) in lo_hi.items():       # learning rates and decays vary on a log scale
            log_scale = k in ("lr", "weight_decay") and lo > 0
            t[k] = float(np.exp(rng.uniform(np.log(lo), np.log(hi))) if log_scale else rng.uniform(lo, hi))
        trials.append(t)
    return trials


def trial_options(trial):
    """Options for fer_app.train --config that a trial sets."""
    options = {k: v for k, v in trial.items() if k != "aug_strength"}
    if "aug_strength" in trial:
        defaults, s = Augmentation(), trial["aug_strength"]
        options.update({f: min(getattr(defaults, f) * s, 1.0) if f == "erase" else getattr(defaults, f) * s
                        for f in AUG_FIELDS})
    return options


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_command(lambda: run(args))


def run(args):
    log = lambda *a: print(*a, flush=True)      # noqa: E731
    check_outputs([("--out", args.out), ("--best-config", args.best_config)],
                  [("--data", None if args.data in (None, "demo") else args.data)], args.overwrite)
    base = ["--epochs", str(args.epochs), "--optimizer", args.optimizer, "--seed", str(args.seed), "--quiet",
            "--checkpoint-minutes", "0"] + (["--data", args.data] if args.data else []) \
        + (["--arch", args.arch] if args.arch else [])
    base_args = parse_train_args(base)
    data = resolve_data(base_args, log)
    splits = load_splits(base_args, data, log)
    if args.subset and args.subset < len(splits["train"][1]):
        fraction = args.subset / len(splits["train"][1])
        _, splits["train"] = stratified_split(*splits["train"], fraction, args.seed)
    trials = trial_grid(args)
    log(f"{len(trials)} trial(s) of {args.epochs} epoch(s) on {len(splits['train'][1])} training images")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, trial in enumerate(trials):
            options = trial_options(trial)
            targs = parse_train_args(base)
            vars(targs).update(options)
            fill_defaults(targs, data)
            targs.out = str(Path(tmp) / f"trial{i}.npz")
            start = time.perf_counter()
            trainer = Trainer(targs, splits, log=lambda *a: None)
            try:
                trainer.run()
                val_acc = trainer.best_acc
            except TrainingError:
                val_acc = float("nan")       # diverged: ranked last
            results.append({"trial": i, **trial, "val_acc": val_acc, "seconds": round(time.perf_counter() - start, 1),
                            "config": dict(options, arch=targs.arch, optimizer=targs.optimizer)})
            spent, left = sum(r["seconds"] for r in results), len(trials) - i - 1
            estimate = f"; about {spent / (i + 1) * left / 60:.1f} min for the {left} left" if left else ""
            log(f"trial {i + 1}/{len(trials)} {json.dumps(trial)} → val acc {val_acc:.4f} "
                f"({results[-1]['seconds']:.0f} s{estimate})")
    results.sort(key=lambda r: -r["val_acc"] if np.isfinite(r["val_acc"]) else np.inf)
    keys = [k for k in results[0] if k not in ("trial", "config")]
    log("\n" + "  ".join(f"{k:>12}" for k in keys))
    for r in results:
        log("  ".join(f"{r[k]:>12.5g}" if isinstance(r[k], float) else f"{r[k]:>12}" for k in keys))
    for path, content in ((args.out, results), (args.best_config, results[0]["config"])):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(content, indent=2))
    log(f"\nbest: {json.dumps(results[0]['config'])}\nwritten to {args.best_config}; "
        f"train with: python -m fer_app.train --config {args.best_config}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
