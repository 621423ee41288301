"""Train an expression classifier: ``python -m fer_app.train --data PATH``.

Every epoch: a shuffled pass over the training split with augmentation, then the
validation loss and accuracy; the best model (by validation accuracy) is saved to
``--out`` with everything needed to use it.  Next to it go a JSONL log, a
training-curves PNG and an atomic checkpoint that ``--resume`` continues from
exactly — weights, optimizer, schedule, position in the epoch and random streams —
so an interrupted and resumed run ends with the same weights as an uninterrupted one.
"""
import json
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np

import minicnn
from minicnn import optim, set_num_threads
from minicnn.losses import SoftmaxCrossEntropy
from minicnn.serialization import ModelFileError, read_training, restore_training, save_training

from . import cli, models
from .augment import Augmentation
from .checks import (FRACTION, NON_NEGATIVE, POSITIVE, POSITIVE_INT, PROBABILITY, SEED, DataError, Range,
                     UserError, check_outputs)
from .cli import run_command
from .data import describe, load_dataset
from .demo import demo_splits
from .detect import DEFAULT_DETECTOR, DETECTORS
from .labels import CLASSES
from .plots import training_curves
from .preprocess import EQUALIZATIONS, Preprocessing

DEFAULT_DATA = ("data/fer2013", "data/fer2013.csv")
GET_FER = ("FER-2013 was not found in data/fer2013 (Kaggle folders) or data/fer2013.csv. Get it from "
           "https://www.kaggle.com/datasets/msambare/fer2013 (folders) or the original challenge's fer2013.csv, "
           "and put it there (see data/README.md). Training on the built-in demo faces instead.")


PROGRESS_LINE_SECONDS = 30      # without a terminal, one progress line this often
COMPILE_NOTE_SECONDS = 3.0      # a first step slower than this is compiling kernels: say so
MAX_BATCH = 4096                # beyond this a step's activations outgrow a desktop's memory
NOT_IN_CONFIG = ("config", "resume", "overwrite", "help")     # options a --config file cannot set


class TrainingError(UserError):
    """Training cannot go on (the loss diverged); the message says what is kept."""


def build_parser():
    p = cli.parser("train", __doc__.split("\n\n")[0])
    g = p.add_argument_group("data")
    g.add_argument("--data", help="fer2013.csv[.gz], Kaggle folders, a class-folder tree, or 'demo' "
                                  "(default: data/fer2013, then data/fer2013.csv, else demo)")
    g.add_argument("--val-fraction", type=FRACTION, default=0.1, help="share of train held out when there is no val split")
    g.add_argument("--skip-bad", action="store_true", help="skip (and count) bad rows/files (default: stop at the first)")
    g.add_argument("--no-cache", action="store_true", help="do not read or write the dataset cache (default: use it)")
    g.add_argument("--detector", choices=sorted(DETECTORS), default=DEFAULT_DETECTOR,
                   help="face detector for the photos of a class-folder tree (yunet or haar)")
    g.add_argument("--equalize", choices=EQUALIZATIONS, default="none", help="histogram equalisation of faces")
    g = p.add_argument_group("model")
    g.add_argument("--arch", choices=sorted(models.ARCHITECTURES),
                   help="architecture: " + "; ".join(f"{k}" for k in models.ARCHITECTURES) +
                        " (default: vgg, or tiny on demo data)")
    g.add_argument("--dropout", type=FRACTION, help="dropout rate (default: the architecture's)")
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=POSITIVE_INT, help="number of epochs (default: 40, or 6 on demo data)")
    g.add_argument("--batch-size", type=Range(1, MAX_BATCH, integer=True), default=64, help="images per step")
    g.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd", help="SGD with momentum, or Adam")
    g.add_argument("--lr", type=POSITIVE, help="learning rate (default: 0.05 for sgd, 0.02 on demo data, 0.002 for adam)")
    g.add_argument("--momentum", type=FRACTION, default=0.9, help="SGD momentum")
    g.add_argument("--nesterov", action="store_true", help="Nesterov momentum (default: classical)")
    g.add_argument("--weight-decay", type=NON_NEGATIVE, default=5e-4, help="L2 penalty on the weights")
    g.add_argument("--schedule", choices=("none", "step", "cosine", "plateau"), default="cosine",
                   help="learning-rate schedule over the epochs")
    g.add_argument("--step-size", type=POSITIVE_INT, default=10, help="epochs per decay for --schedule step")
    g.add_argument("--label-smoothing", type=FRACTION, default=0.1, help="share of each target spread over all classes")
    g.add_argument("--class-weights", choices=("none", "balanced", "sqrt"), default="sqrt",
                   help="weight the loss by inverse class frequency (balanced) or its square root")
    g.add_argument("--early-stop", type=POSITIVE_INT, metavar="PATIENCE",
                   help="stop after this many epochs without a better val accuracy (default: never)")
    g = p.add_argument_group("augmentation (training only)")
    defaults = Augmentation()
    g.add_argument("--no-augment", action="store_true", help="switch all augmentation off (default: on)")
    g.add_argument("--rotation", type=Range(0, 180), default=defaults.rotation, help="max rotation, degrees")
    g.add_argument("--no-flip", action="store_true", help="no horizontal flips (default: flip half the faces)")
    g.add_argument("--shift", type=Range(0, 0.5), default=defaults.shift, help="max shift, fraction of the side")
    g.add_argument("--zoom", type=FRACTION, default=defaults.zoom, help="max zoom in/out, fraction")
    g.add_argument("--brightness", type=PROBABILITY, default=defaults.brightness, help="max brightness change ([0, 1] units)")
    g.add_argument("--contrast", type=PROBABILITY, default=defaults.contrast, help="max contrast change, fraction")
    g.add_argument("--noise", type=PROBABILITY, default=defaults.noise, help="Gaussian noise std ([0, 1] units)")
    g.add_argument("--erase", type=PROBABILITY, default=defaults.erase, help="probability of random erasing")
    g = p.add_argument_group("run")
    g.add_argument("--out", help="where the best model goes; its checkpoint, log and curves go beside it "
                                 "(default: runs/<data>-<arch>.npz, numbered -2, -3 … when taken)")
    g.add_argument("--overwrite", action="store_true", help="replace the files of an earlier run at --out "
                                                            "(default: refuse)")
    g.add_argument("--resume", metavar="CHECKPOINT", help="continue from a checkpoint (<out>.ckpt.npz) "
                                                          "(default: start afresh)")
    g.add_argument("--config", metavar="JSON", help="options from a JSON file (as fer_app.tune writes); "
                                                    "options given on the command line win (default: none)")
    g.add_argument("--seed", type=SEED, default=0, help="random seed (weights, shuffling, augmentation)")
    g.add_argument("--threads", type=Range(1, 1024, integer=True), help="threads for minicnn (default: the cores this process may use)")
    g.add_argument("--checkpoint-minutes", type=NON_NEGATIVE, default=5.0,
                   help="also checkpoint inside an epoch this often (0: only at epoch ends)")
    g.add_argument("--quiet", action="store_true", help="no progress bar (default: a bar on a terminal)")
    return p


def parse_args(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config:
        try:
            parser.set_defaults(**read_config(args.config, parser))
        except UserError as e:
            parser.error(str(e))
        args = parser.parse_args(argv)      # command-line values override the file's
    if args.nesterov and args.momentum == 0:
        parser.error("--nesterov needs --momentum above 0")
    return args


def read_config(path, parser):
    """The options in a --config JSON file, each checked as the command line would check it."""
    try:
        config = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"--config {path}: cannot read JSON: {e}") from None
    if not isinstance(config, dict):
        raise UserError(f"--config {path}: expected a JSON object of options, got a {type(config).__name__}")
    check_option_values(config, parser, f"--config {path}")
    return config


def check_option_values(options, parser, source):
    """Check option values that come from a file (``source`` names it) as the command line would."""
    actions = {a.dest: a for a in parser._actions if a.dest not in NOT_IN_CONFIG}
    unknown = sorted(set(options) - set(actions))
    if unknown:
        raise UserError(f"{source}: unknown option(s) {', '.join(unknown)}")
    for name, value in options.items():
        action, where = actions[name], f"{source}: {name!r}"
        if value is None:
            continue
        if action.nargs == 0:                               # a switch: true or false
            if not isinstance(value, bool):
                raise UserError(f"{where} must be true or false, got {value!r}")
        elif isinstance(action.type, Range):
            problem = action.type.problem(value)
            if problem:
                raise UserError(f"{where} {problem}")
        elif not isinstance(value, str) or (action.choices and value not in action.choices):
            expected = f"one of {', '.join(map(str, action.choices))}" if action.choices else "a string"
            raise UserError(f"{where} must be {expected}, got {value!r}")


def resolve_data(args, log):
    if args.data:
        return args.data
    for candidate in DEFAULT_DATA:
        if os.path.exists(candidate):
            return candidate
    log(GET_FER)
    return "demo"


def augmentation_from(args):
    if args.no_augment:
        return Augmentation(0, False, 0, 0, 0, 0, 0, 0)
    return Augmentation(args.rotation, not args.no_flip, args.shift, args.zoom, args.brightness,
                        args.contrast, args.noise, args.erase)


def class_weights(labels, mode):
    if mode == "none":
        return None
    counts = np.bincount(labels, minlength=len(CLASSES)).astype(np.float64)
    weights = counts.sum() / (len(CLASSES) * np.maximum(counts, 1))
    return np.sqrt(weights) if mode == "sqrt" else weights


def evaluate_split(model, x, y, loss_fn, batch_size=256):
    """Mean loss, accuracy and class probabilities of a prepared (standardised) split."""
    probs, total = [], 0.0
    for i in range(0, len(x), batch_size):
        logits = model.predict(x[i:i + batch_size])
        total += loss_fn.forward(logits, y[i:i + batch_size]) * len(logits)
        probs.append(minicnn.losses.softmax(logits))
    probs = np.concatenate(probs) if probs else np.zeros((0, len(CLASSES)))
    return total / max(len(y), 1), float((probs.argmax(1) == y).mean()) if len(y) else 0.0, probs


class Trainer:
    """Owns the model, optimizer, schedule and position; ``run`` trains to the last epoch."""

    def __init__(self, args, splits, log=print, on_epoch=None):
        """``on_epoch(record)``, if given, sees each epoch's log record (fer_app.tune reports it to Optuna)."""
        self.args, self.log, self.on_epoch = args, log, on_epoch
        self.train_faces, self.train_labels = splits["train"]
        if "val" not in splits or not len(splits["val"][1]):
            raise DataError("the dataset has no validation split (and it is too small to carve one)")
        self.preprocessing = Preprocessing(args.equalize).fitted(self.train_faces)
        self.x_train = self.preprocessing.prepare(self.train_faces)
        self.x_val = self.preprocessing(splits["val"][0])
        self.y_val = splits["val"][1]
        self.augment = augmentation_from(args)
        rng = np.random.default_rng(args.seed)
        self.model = models.build(args.arch, rng, args.dropout)
        self.dropouts = [layer for layer in self.model.layers if isinstance(layer, minicnn.layers.Dropout)]
        self.loss_fn = SoftmaxCrossEntropy(args.label_smoothing, class_weights(self.train_labels, args.class_weights))
        self.eval_loss = SoftmaxCrossEntropy()
        params = self.model.parameters()
        if args.optimizer == "sgd":
            self.optimizer = optim.SGD(params, args.lr, args.momentum, args.nesterov, args.weight_decay)
        else:
            self.optimizer = optim.Adam(params, args.lr, weight_decay=args.weight_decay)
        self.schedule = {"none": None, "step": lambda o: optim.StepLR(o, args.step_size, 0.1),
                         "cosine": lambda o: optim.CosineLR(o, args.epochs),
                         "plateau": lambda o: optim.ReduceOnPlateau(o, 0.5, 3)}[args.schedule]
        self.schedule = self.schedule(self.optimizer) if self.schedule else None
        self.epoch, self.batch = 0, 0             # position: next batch to run
        self.sums = {"loss": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}
        self.rng_states = None                    # random streams saved mid-epoch
        self.best_acc, self.best_epoch, self.history = -1.0, -1, []
        files = run_files(args.out)
        self.checkpoint_path, self.log_path, self.curves_path = files["checkpoint"], files["log"], files["curves"]

    def augmentation_ms(self, repeats=5):
        """Cost of augmenting one batch of 64, measured with a throwaway generator (training streams untouched)."""
        batch, rng = self.x_train[:64], np.random.default_rng()
        start = time.perf_counter()
        for _ in range(repeats):
            self.augment(batch, rng)
        return 1000 * (time.perf_counter() - start) / repeats

    # ---------------------------------------------------------------- checkpoints

    def _streams(self, epoch):
        """The epoch's random streams, all derived from (seed, epoch): shuffle+augment, and one per dropout."""
        seed = self.args.seed
        return np.random.default_rng([seed, epoch]), [np.random.default_rng([seed, epoch, i])
                                                      for i in range(len(self.dropouts))]

    def save_checkpoint(self, data_rng=None):
        """Atomic write of everything needed to continue from the current position (minicnn's training state
        file, with the trainer's own position, history, options and random streams as its JSON)."""
        state = {"epoch": self.epoch, "batch": self.batch, "sums": self.sums, "best_acc": self.best_acc,
                 "best_epoch": self.best_epoch, "history": self.history, "args": vars(self.args),
                 "preprocessing": self.preprocessing.to_dict(),
                 "rng_states": None if data_rng is None else
                 [data_rng.bit_generator.state] + [d.rng.bit_generator.state for d in self.dropouts]}
        save_training(self.checkpoint_path, self.model, self.optimizer, self.schedule, state)

    def load_checkpoint(self, path, read):
        """Continue from a checkpoint as read_checkpoint read it; the log is rewritten to the epochs it holds."""
        state = restore_training(path, read, self.model, self.optimizer, self.schedule)
        try:
            self.preprocessing = Preprocessing.from_dict(state["preprocessing"])
        except (KeyError, TypeError, ValueError) as e:
            raise ModelFileError(f"{path}: the training state does not fit the model it describes: {e}") from None
        self.epoch, self.batch, self.sums = state["epoch"], state["batch"], state["sums"]
        self.best_acc, self.best_epoch, self.history = state["best_acc"], state["best_epoch"], state["history"]
        self.rng_states = state["rng_states"]
        # a run killed between its log line and its checkpoint logged an epoch it will now repeat
        cli.write_text_atomically(self.log_path, "".join(json.dumps(record) + "\n" for record in self.history))

    # ---------------------------------------------------------------- training

    def run(self):
        args, log = self.args, self.log
        stop = {"requested": False}

        def on_interrupt(signum, frame):
            if stop["requested"]:
                raise KeyboardInterrupt
            stop["requested"] = True
            log("\ninterrupted: finishing this batch, then saving a checkpoint (Ctrl-C again to abort)")

        previous = signal.signal(signal.SIGINT, on_interrupt)
        try:
            while self.epoch < args.epochs:
                if not self._train_epoch(stop):
                    log(f"checkpoint saved: {self.checkpoint_path}; continue with --resume {self.checkpoint_path}")
                    return 130
                if self._end_epoch():
                    break
        finally:
            signal.signal(signal.SIGINT, previous)
        log(f"best val accuracy {self.best_acc:.4f} at epoch {self.best_epoch + 1}; model: {args.out}")
        return 0

    def _train_epoch(self, stop):
        """One pass over the training data from the current position; False if interrupted."""
        args = self.args
        data_rng, dropout_rngs = self._streams(self.epoch)
        order = data_rng.permutation(len(self.train_labels))
        if self.rng_states:                               # resuming inside this epoch
            data_rng.bit_generator.state = self.rng_states[0]
            for rng, st in zip(dropout_rngs, self.rng_states[1:]):
                rng.bit_generator.state = st
            self.rng_states = None
        for layer, rng in zip(self.dropouts, dropout_rngs):
            layer.rng = rng
        n_batches = math.ceil(len(order) / args.batch_size)
        last_checkpoint = time.monotonic()
        bar = None
        if not args.quiet and sys.stderr.isatty():
            from tqdm import tqdm
            bar = tqdm(total=n_batches, initial=self.batch, desc=f"epoch {self.epoch + 1}/{args.epochs}",
                       leave=False, dynamic_ncols=True)
        last_line = time.monotonic()
        # the first step of a fresh install compiles minicnn's kernels: say so if it is taking a while
        compiling = threading.Timer(COMPILE_NOTE_SECONDS, print, ["compiling minicnn's kernels (the first run after an install; "
                                                 "later runs reuse them) ..."], {"flush": True})
        compiling.daemon = True
        compiling.start()
        try:
            while self.batch < n_batches:
                start = time.perf_counter()
                idx = order[self.batch * args.batch_size:(self.batch + 1) * args.batch_size]
                x = self.x_train[idx]
                if not self.augment.is_off():
                    x = self.augment(x, data_rng)
                x = self.preprocessing.standardize(x)
                y = self.train_labels[idx]
                logits = self.model.forward(x, training=True)
                loss = self.loss_fn.forward(logits, y)
                if not math.isfinite(loss):
                    kept = (f"the last good checkpoint is kept at {self.checkpoint_path}"
                            if self.checkpoint_path.exists() else "no checkpoint was written yet")
                    raise TrainingError(f"the loss became {loss} at epoch {self.epoch + 1}, batch {self.batch + 1} "
                                        f"(learning rate {self.optimizer.lr:g} too high?); {kept}")
                self.optimizer.zero_grad()
                self.model.backward(self.loss_fn.backward())
                self.optimizer.step()
                self.batch += 1
                s = self.sums
                s["loss"] += loss * len(y)
                s["correct"] += int((logits.argmax(1) == y).sum())
                s["seen"] += len(y)
                s["seconds"] += time.perf_counter() - start
                compiling.cancel()
                if bar:
                    bar.update(1)
                    bar.set_postfix(loss=f"{s['loss'] / s['seen']:.3f}", acc=f"{s['correct'] / s['seen']:.3f}",
                                    img_s=f"{s['seen'] / s['seconds']:.0f}")
                elif not args.quiet and time.monotonic() - last_line > PROGRESS_LINE_SECONDS:
                    # no terminal (a log file, a notebook, CI): a line now and then instead of a bar
                    rate = s["seen"] / s["seconds"]
                    left = (n_batches - self.batch) * args.batch_size / rate
                    print(f"epoch {self.epoch + 1}/{args.epochs}: batch {self.batch}/{n_batches}, "
                          f"loss {s['loss'] / s['seen']:.3f}, acc {s['correct'] / s['seen']:.3f}, {rate:.0f} img/s, "
                          f"about {left / 60:.1f} min left in this epoch", flush=True)
                    last_line = time.monotonic()
                minutes = args.checkpoint_minutes
                if stop["requested"] or (minutes and time.monotonic() - last_checkpoint > 60 * minutes
                                         and self.batch < n_batches):
                    self.save_checkpoint(data_rng)
                    last_checkpoint = time.monotonic()
                    if stop["requested"]:
                        return False
        finally:
            compiling.cancel()
            if bar:
                bar.close()
        return True

    def _end_epoch(self):
        """Validate, log, save the best model and the checkpoint; True when training should stop early."""
        args, s = self.args, self.sums
        val_loss, val_acc, _ = evaluate_split(self.model, self.x_val, self.y_val, self.eval_loss)
        record = {"epoch": self.epoch + 1, "train_loss": s["loss"] / s["seen"], "train_acc": s["correct"] / s["seen"],
                  "val_loss": val_loss, "val_acc": val_acc, "lr": self.optimizer.lr,
                  "img_per_s": s["seen"] / max(s["seconds"], 1e-9), "time": time.strftime("%Y-%m-%d %H:%M:%S")}
        improved = val_acc > self.best_acc
        if improved:
            self.best_acc, self.best_epoch = val_acc, self.epoch
            self.save_model(record)
        self.history.append(record)
        with open(self.log_path, "a") as f:
            f.write(json.dumps(record) + "\n")
        training_curves(self.history, self.curves_path)
        self.log(f"epoch {record['epoch']:3d}/{args.epochs}  train loss {record['train_loss']:.4f} "
                 f"acc {record['train_acc']:.4f}  val loss {val_loss:.4f} acc {val_acc:.4f}"
                 f"{'  *best' if improved else ''}  lr {self.optimizer.lr:.2e}  {record['img_per_s']:.0f} img/s")
        if self.schedule:
            self.schedule.step(val_acc)
        self.epoch, self.batch = self.epoch + 1, 0
        self.sums = {"loss": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}
        self.save_checkpoint()
        if self.on_epoch:
            self.on_epoch(record)
        patience = args.early_stop
        if patience and self.epoch - 1 - self.best_epoch >= patience:
            self.log(f"early stop: no better val accuracy for {patience} epochs")
            return True
        return False

    def save_model(self, record):
        config = {k: v for k, v in vars(self.args).items() if k not in ("resume", "config", "quiet")}
        self.model.save(self.args.out, metadata={
            "classes": list(CLASSES), "input_shape": [1, 48, 48], "arch": self.args.arch,
            "preprocessing": self.preprocessing.to_dict(), "training": config,
            "metrics": {"epoch": record["epoch"], "val_acc": record["val_acc"], "val_loss": record["val_loss"],
                        "train_acc": record["train_acc"]}})


def run_files(out):
    """The files a run writes: the best model at ``out``, and beside it its checkpoint, log and curves."""
    out = Path(out)
    return {"model": out, "checkpoint": out.with_suffix(".ckpt.npz"), "log": out.with_suffix(".log.jsonl"),
            "curves": out.with_suffix(".curves.png")}


CHECKPOINT_STATE = {"epoch": int, "batch": int, "sums": dict, "best_acc": (int, float), "best_epoch": int,
                    "history": list, "args": dict, "preprocessing": dict, "rng_states": (list, type(None))}


def read_checkpoint(path):
    """(the trainer's state, what minicnn's read_training read) of a checkpoint that Trainer.save_checkpoint
    wrote, the file read once; ModelFileError naming the file."""
    read = read_training(path)
    state = read[1]["state"]
    if not isinstance(state, dict):
        raise ModelFileError(f"{path}: the training state is not a JSON object")
    missing = [k for k in CHECKPOINT_STATE if k not in state]
    if missing:
        raise ModelFileError(f"{path}: the training state lacks {', '.join(missing)}")
    wrong = [k for k, kind in CHECKPOINT_STATE.items() if not isinstance(state[k], kind) or isinstance(state[k], bool)]
    if wrong:
        raise ModelFileError(f"{path}: the training state has values of the wrong type for {', '.join(wrong)}")
    return state, read


def load_splits(args, data, log):
    """The splits of ``data`` (a path or "demo", from resolve_data)."""
    if data == "demo":
        return demo_splits(args.seed)
    splits = load_dataset(data, skip_bad=args.skip_bad, val_fraction=args.val_fraction, seed=args.seed,
                          use_cache=not args.no_cache, log=log, detector=args.detector)
    if "train" not in splits or not len(splits["train"][1]):
        raise DataError(f"{data}: no training split found")
    return splits


def fill_defaults(args, data):
    demo = data == "demo"
    args.arch = args.arch or ("tiny" if demo else "vgg")
    args.epochs = args.epochs or (6 if demo else 40)
    args.lr = args.lr or (0.002 if args.optimizer == "adam" else 0.02 if demo else 0.05)
    if not args.out:
        name = "demo" if demo else Path(data).name.split(".")[0]
        args.out = f"runs/{name}-{args.arch}.npz"


def unfinished(checkpoint):
    """True when ``checkpoint`` is a readable checkpoint of a run that has epochs left."""
    try:
        state, _ = read_checkpoint(checkpoint)
    except ModelFileError:
        return False
    return state["epoch"] < state["args"].get("epochs", 0)


def claim_run_files(args, data, out_named):
    """Make sure a new run writes over no input, and over no earlier run's files unless --overwrite (then they
    go at once, so none of them is left beside the new run's).  An --out left to its default that an earlier
    run took is numbered instead: runs/demo-tiny-2.npz."""
    if not out_named and not args.overwrite:
        base, n = Path(args.out), 1
        while any(f.exists() for f in run_files(args.out).values()):
            n += 1
            args.out = str(base.with_name(f"{base.stem}-{n}{base.suffix}"))
    if Path(args.out).is_dir():
        raise UserError(f"--out {args.out}: is a folder; give a file name, such as {Path(args.out) / 'model.npz'}")
    files = run_files(args.out)
    inputs = [("--data", None if data == "demo" else data), ("--config", args.config)]
    check_outputs([("--out", path) for path in files.values()], inputs, overwrite=True)
    existing = [str(f) for f in files.values() if f.exists()]
    if existing and not args.overwrite:
        resume = f"continue it with --resume {files['checkpoint']}, " if unfinished(files["checkpoint"]) else ""
        raise UserError(f"--out {args.out}: an earlier run's files are there ({', '.join(existing)}); "
                        f"{resume}choose another --out, or pass --overwrite to replace them")
    for name in ("checkpoint", "log", "curves"):       # the model itself is replaced when this run has a better one
        files[name].unlink(missing_ok=True)


def main(argv=None):
    args = parse_args(argv)
    return run_command(lambda: run(args))


def run(args):
    log = lambda *a: print(*a, flush=True)     # noqa: E731
    if args.threads:
        set_num_threads(args.threads)
    if args.resume:
        state, read = read_checkpoint(args.resume)
        saved = {k: v for k, v in state["args"].items() if k not in NOT_IN_CONFIG}
        check_option_values(saved, build_parser(), f"--resume {args.resume}")
        overrides = {k: v for k, v in vars(args).items() if k in ("epochs", "quiet", "threads") and v}
        vars(args).update(dict(saved, **overrides))
    out_named = args.out is not None
    data = resolve_data(args, log)
    fill_defaults(args, data)
    if not args.resume:
        claim_run_files(args, data, out_named)
    splits = load_splits(args, data, log)
    log(f"data: {data}: {describe(splits)}")
    trainer = Trainer(args, splits, log)
    if args.resume:
        trainer.load_checkpoint(args.resume, read)
        log(f"resumed from {args.resume} at epoch {trainer.epoch + 1}, batch {trainer.batch}")
    log(f"model: {args.arch}, {trainer.model.num_parameters():,} parameters; {args.optimizer} lr {args.lr:g}, "
        f"{args.epochs} epochs, batch {args.batch_size}; out: {args.out}")
    log(f"augmentation: {trainer.augmentation_ms():.1f} ms per batch of 64" if not trainer.augment.is_off()
        else "augmentation: off")
    return trainer.run()

if __name__ == "__main__":
    sys.exit(main())
