"""Train an expression classifier: ``python -m fer_app.train --data PATH``.

Every epoch: a shuffled pass over the training split with augmentation, then the
validation loss and accuracy; the best model (by validation accuracy) is saved to
``--out`` with everything needed to use it.  Next to it go a JSONL log, a
training-curves PNG and an atomic checkpoint that ``--resume`` continues from
exactly — weights, optimizer, schedule, position in the epoch and random streams —
so an interrupted and resumed run ends with the same weights as an uninterrupted one.

Reading order: ``Trainer`` (the model, its optimizer and the loop: ``fit`` → ``train_epoch`` →
``train_batches`` → ``prepare`` and ``step``, then ``validate`` and ``end_epoch``); fer_app/callbacks.py for what a run
writes; fer_app/config.py for what a run is; fer_app/runs.py for a run's files and checkpoint format; ``run`` at
the bottom for the command that ties them together.
"""
import json
import math
import signal
import sys
import time
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import fields, replace
from pathlib import Path

import numpy as np

import minicnn
from minicnn import gpu, optim, set_num_threads, to_numpy
from minicnn.losses import SoftmaxCrossEntropy, SoftTargetCrossEntropy, softmax
from minicnn.serialization import ModelFileError, restore_training, save_training

from . import cli, models
from .augment import random_crops
from .callbacks import BestModel, Checkpoints, Curves, EpochLine, JsonlLog, Progress, Snapshots
from .checks import DataError, UserError, writing_alone
from .classifier import ExpressionClassifier
from .cli import run_command
from .config import TrainConfig, add_options
from .data import describe, load_dataset, resolve_data
from .demo import demo_splits
from .labels import CLASSES
from .preprocess import FACE_SIZE, Preprocessing, center_crop
from .runs import claim_run_files, read_checkpoint, run_files

BATCHNORM_FACES = 8192   # training faces whose statistics each epoch's BatchNorm running statistics become


class TrainingError(UserError):
    """Training cannot go on (the loss diverged); the message says what is kept."""


def build_parser():
    p = cli.parser("train", __doc__.split("\n\n")[0])
    run = add_options(p)["run"]
    run.add_argument("--overwrite", action="store_true", help="replace the files of an earlier run at --out "
                                                              "(default: refuse)")
    run.add_argument("--resume", metavar="CHECKPOINT", help="continue from a checkpoint (<out>.ckpt.npz) "
                                                            "(default: start afresh)")
    run.add_argument("--config", metavar="JSON", help="options from a JSON file (as fer_app.tune writes); "
                                                      "options given on the command line win (default: none)")
    return p


def parse_args(argv=None):
    """The command line as a namespace: ``options`` (a TrainConfig), and ``resume``, ``overwrite``, ``config``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.config:
            parser.set_defaults(**read_config(args.config))
            args = parser.parse_args(argv)      # command-line values override the file's
        args.options = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    except UserError as e:
        parser.error(str(e))
    return args


def read_config(path):
    """The options in a --config JSON file, each checked as the command line would check it."""
    try:
        config = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"--config {path}: cannot read JSON: {e}") from None
    if not isinstance(config, dict):
        raise UserError(f"--config {path}: expected a JSON object of options, got a {type(config).__name__}")
    TrainConfig.from_dict(config, f"--config {path}")
    return config


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
        logits = to_numpy(model.predict(x[i:i + batch_size]))
        total += loss_fn.forward(logits, y[i:i + batch_size]) * len(logits)
        probs.append(minicnn.losses.softmax(logits))
    probs = np.concatenate(probs) if probs else np.zeros((0, len(CLASSES)))
    return total / max(len(y), 1), float((probs.argmax(1) == y).mean()) if len(y) else 0.0, probs


class Trainer:
    """A model, its loss, optimizer and schedule, and the position in training; ``fit`` trains to the last
    epoch.  Everything else a run does (progress, log, curves, best model, checkpoints) is a callback
    (fer_app/callbacks.py).

        trainer = Trainer(config.for_data("demo"), demo_splits())
        trainer.fit([EpochLine(print)])
    """

    def __init__(self, config, splits, log=print, checkpoint=None):
        """``checkpoint``: (path, what read_checkpoint read) to continue from; else the weights are those of
        ``config.init`` or random."""
        self.config, self.log = config, log
        self.train_faces, self.train_labels = splits["train"]
        # what the loss fits: the crowd's vote shares (--labels ferplus), else the labels
        self.train_targets = getattr(splits["train"], "targets", None)
        if "val" not in splits or not len(splits["val"][1]):
            raise DataError("the dataset has no validation split (and it is too small to carve one)")
        self.size = config.crop or FACE_SIZE          # the side of the faces the network takes
        self.model = models.build(config.arch, np.random.default_rng(config.seed), config.dropout, self.size,
                                  config.width)
        self.preprocessing = Preprocessing(config.equalize).fitted(self.train_faces)
        if config.init and not checkpoint:
            self.preprocessing = start_from(self.model, config.init, config.arch, self.preprocessing)
        self.x_train = self.preprocessing.prepare(self.train_faces)
        self.x_val = center_crop(self.preprocessing(splits["val"][0]), self.size)
        self.y_val = splits["val"][1]
        self.augment = config.augmentation()
        # in random order: the data come sorted by class, and a batch of one class is not a training batch
        self.batchnorm_faces = np.random.default_rng(config.seed).permutation(len(self.x_train))[:BATCHNORM_FACES]
        self.dropouts = [layer for layer in self.model.layers if isinstance(layer, minicnn.layers.Dropout)]
        self.loss_fn = SoftmaxCrossEntropy(config.label_smoothing, class_weights(self.train_labels, config.class_weights))
        self.eval_loss = SoftmaxCrossEntropy()
        if config.teacher:           # distillation: each training face's soft targets, computed once
            self.soft_targets = self.saved_soft_targets(*checkpoint) if checkpoint else None
            if self.soft_targets is not None:
                source = f"from {checkpoint[0]}"
            else:
                start = time.perf_counter()
                self.soft_targets = soft_targets(config.teacher, self.train_faces, config.distill_temperature)
                source = f"in {time.perf_counter() - start:.0f} s"
            self.soft_loss = SoftTargetCrossEntropy(config.distill_temperature)
            log(f"teacher: {config.teacher}, soft targets of {len(self.train_faces)} faces at temperature "
                f"{config.distill_temperature:g} {source}")
        params = self.model.parameters()
        if config.optimizer == "sgd":
            self.optimizer = optim.SGD(params, config.lr, config.momentum, config.nesterov, config.weight_decay)
        else:
            self.optimizer = optim.Adam(params, config.lr, weight_decay=config.weight_decay)
        self.schedule = {"none": lambda o: None, "step": lambda o: optim.StepLR(o, config.step_size, 0.1),
                         "cosine": lambda o: optim.CosineLR(o, config.epochs, cycles=config.cycles),
                         "plateau": lambda o: optim.ReduceOnPlateau(o, 0.5, 3)}[config.schedule](self.optimizer)
        self.epoch, self.batch, self.n_batches = 0, 0, 0      # position: the next batch to run
        self.sums = {"loss": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}
        self.rng_states = None                    # random streams saved mid-epoch
        self.best_acc, self.best_epoch, self.history = -1.0, -1, []
        self.stop_requested = False               # set by Ctrl-C: the epoch ends after its current step
        if checkpoint:
            self.load_checkpoint(*checkpoint)
        if config.device == "cuda":
            gpu.model_to_gpu(self.model, self.optimizer)

    def augmentation_ms(self, repeats=5):
        """Cost of augmenting one batch of 64, measured with a throwaway generator (training streams untouched)."""
        batch, rng = self.x_train[:64], np.random.default_rng()
        start = time.perf_counter()
        for _ in range(repeats):
            self.augment(batch, rng)
        return 1000 * (time.perf_counter() - start) / repeats

    # ---------------------------------------------------------------- the loop

    def fit(self, callbacks=()):
        """Train from the current position to the last epoch; 0, or 130 when ``stop_requested`` (Ctrl-C in the
        command) stopped it after a step (after the callbacks' on_interrupt, e.g. a checkpoint)."""
        while self.epoch < self.config.epochs:
            if not self.train_epoch(callbacks):
                return 130
            record, improved = self.end_epoch(*self.validate())
            for callback in callbacks:
                callback.on_epoch(self, record, improved)
            patience = self.config.early_stop
            if patience and self.epoch - 1 - self.best_epoch >= patience:
                self.log(f"early stop: no better val accuracy for {patience} epochs")
                break
        return 0

    def train_epoch(self, callbacks=()):
        """One pass over the training data from the current position; False if Ctrl-C stopped it."""
        config = self.config
        data_rng, dropout_rngs = self._streams(self.epoch)
        order = data_rng.permutation(len(self.train_labels))
        if self.rng_states:                               # resuming inside this epoch
            data_rng.bit_generator.state = self.rng_states[0]
            for rng, st in zip(dropout_rngs, self.rng_states[1:]):
                rng.bit_generator.state = st
            self.rng_states = None
        for layer, rng in zip(self.dropouts, dropout_rngs):
            layer.rng = rng
        self.n_batches = math.ceil(len(order) / config.batch_size)
        for callback in callbacks:
            callback.on_epoch_start(self)
        try:
            batches = [order[b * config.batch_size:(b + 1) * config.batch_size]
                       for b in range(self.batch, self.n_batches)]
            return self.train_batches(batches, data_rng, callbacks)
        finally:
            for callback in callbacks:
                callback.on_epoch_end(self)

    def train_batches(self, batches, data_rng, callbacks=()):
        """A step on each batch of training-face indices in turn, each augmented from ``data_rng``; False if
        Ctrl-C stopped them.  On a GPU a worker thread augments the next batch while this one trains (NumPy
        and OpenCV let go of Python's lock, and augmentation is 40 % of a GPU step); on the CPU the step's
        kernels keep every core busy and a second thread only slows them (tiny: 47 → 55 ms a step on 2 cores),
        so each batch is prepared in turn there.  Batches draw from ``data_rng`` in the same order either way,
        and the callbacks get the stream as it was after the batch just trained, so a checkpoint continues
        exactly."""
        def prepared(idx):
            x = self.prepare(idx, data_rng)
            return x, data_rng.bit_generator.state
        if not batches:
            return True
        # the next batch is prepared on the CPU while a GPU computes; on the CPU its cores run the kernels
        with ThreadPoolExecutor(1) if self.config.device == "cuda" else InlineExecutor() as worker:
            coming = worker.submit(prepared, batches[0])
            for i, idx in enumerate(batches):
                start = time.perf_counter()
                x, state = coming.result()
                if i + 1 < len(batches):
                    coming = worker.submit(prepared, batches[i + 1])
                self.step(idx, x)
                self.sums["seconds"] += time.perf_counter() - start
                after = np.random.Generator(type(data_rng.bit_generator)())
                after.bit_generator.state = state
                for callback in callbacks:
                    callback.on_batch(self, after)
                if self.stop_requested:
                    for callback in callbacks:
                        callback.on_interrupt(self, after)
                    return False
        return True

    def prepare(self, idx, data_rng):
        """The network's input for training faces ``idx``: augmented from ``data_rng``, cropped, standardised."""
        x = self.x_train[idx]
        if not self.augment.is_off():
            x = self.augment(x, data_rng)
        if self.size < x.shape[-1]:
            x = center_crop(x, self.size) if self.augment.is_off() else random_crops(x, self.size, data_rng)
        return self.preprocessing.standardize(x)

    def step(self, idx, x):
        """One optimizer step on the training faces ``idx``, whose prepared input is ``x``."""
        y = self.train_labels[idx]
        logits = to_numpy(self.model.forward(x, training=True))
        loss, grad = self.loss_and_gradient(logits, idx)
        if not math.isfinite(loss):
            raise TrainingError(f"the loss became {loss} at epoch {self.epoch + 1}, batch {self.batch + 1} "
                                f"(learning rate {self.optimizer.lr:g} too high?)")
        self.optimizer.zero_grad()
        self.model.backward(grad, input_grad=False)          # the images' own gradient is not needed
        self.optimizer.step()
        self.batch += 1
        s = self.sums
        s["loss"] += loss * len(y)
        s["correct"] += int((logits.argmax(1) == y).sum())
        s["seen"] += len(y)

    def loss_and_gradient(self, logits, idx):
        """The loss of the logits of training faces ``idx`` and its gradient: cross-entropy with the labels
        (or the crowd's vote shares),
        mixed with the teacher's soft targets when distilling: (1 − α)·CE + α·T²·KL (minicnn/losses.py)."""
        targets = self.train_labels[idx] if self.train_targets is None else self.train_targets[idx]
        loss, grad = self.loss_fn.forward(logits, targets), self.loss_fn.backward()
        if self.config.teacher:
            alpha = self.config.distill_weight
            soft = self.soft_loss.forward(logits, self.soft_targets[idx])
            loss, grad = (1 - alpha) * loss + alpha * soft, (1 - alpha) * grad + alpha * self.soft_loss.backward()
        return loss, grad

    def validate(self):
        """(val loss, val accuracy) of the model as it is now, its BatchNorm statistics first recomputed."""
        # the running statistics trailed moving weights on augmented faces: those of the weights now, on faces as
        # inference sees them (about half a point on PublicTest, docs/model.md)
        faces = self.preprocessing.standardize(center_crop(self.x_train[self.batchnorm_faces], self.size))
        self.model.recompute_batchnorm_statistics(faces)
        val_loss, val_acc, _ = evaluate_split(self.model, self.x_val, self.y_val, self.eval_loss)
        return val_loss, val_acc

    def end_epoch(self, val_loss, val_acc):
        """The epoch's record (train and val loss and accuracy, lr, speed) kept, the best noted, the schedule
        stepped and the position moved to the next epoch; (record, whether val accuracy improved)."""
        s = self.sums
        record = {"epoch": self.epoch + 1, "train_loss": s["loss"] / s["seen"], "train_acc": s["correct"] / s["seen"],
                  "val_loss": val_loss, "val_acc": val_acc, "lr": self.optimizer.lr,
                  "img_per_s": s["seen"] / max(s["seconds"], 1e-9), "time": time.strftime("%Y-%m-%d %H:%M:%S")}
        improved = val_acc > self.best_acc
        if improved:
            self.best_acc, self.best_epoch = val_acc, self.epoch
        self.history.append(record)
        if self.schedule:
            self.schedule.step(val_acc)
        self.epoch, self.batch = self.epoch + 1, 0
        self.sums = {"loss": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}
        return record, improved

    # ---------------------------------------------------------------- checkpoints

    def _streams(self, epoch):
        """The epoch's random streams, all derived from (seed, epoch): shuffle+augment, and one per dropout."""
        seed = self.config.seed
        return np.random.default_rng([seed, epoch]), [np.random.default_rng([seed, epoch, i])
                                                      for i in range(len(self.dropouts))]

    def save_checkpoint(self, path, data_rng=None):
        """Atomic write of everything needed to continue from the current position (minicnn's training state
        file, with the trainer's own position, history, options and random streams as its JSON)."""
        state = {"epoch": self.epoch, "batch": self.batch, "sums": self.sums, "best_acc": self.best_acc,
                 "best_epoch": self.best_epoch, "history": self.history, "config": self.config.to_dict(),
                 "preprocessing": self.preprocessing.to_dict(),
                 "rng_states": None if data_rng is None else
                 [data_rng.bit_generator.state] + [d.rng.bit_generator.state for d in self.dropouts]}
        save_training(path, self.model, self.optimizer, self.schedule, state,
                      {"soft_targets": self.soft_targets} if self.config.teacher else None)

    def saved_soft_targets(self, path, read):
        """The teacher's soft targets a checkpoint keeps (a resumed run does not ask the teacher again), or
        None for a checkpoint written before they were kept."""
        saved = read[1]["caller"].get("soft_targets")
        if saved is not None and saved.shape != (len(self.train_faces), len(CLASSES)):
            raise ModelFileError(f"{path}: its soft targets have shape {saved.shape}, the data needs "
                                 f"{(len(self.train_faces), len(CLASSES))}")
        return saved

    def load_checkpoint(self, path, read):
        """Continue from a checkpoint as read_checkpoint read it."""
        state = restore_training(path, read, self.model, self.optimizer, self.schedule)
        try:
            self.preprocessing = Preprocessing.from_dict(state["preprocessing"])
        except (KeyError, TypeError, ValueError) as e:
            raise ModelFileError(f"{path}: the training state does not fit the model it describes: {e}") from None
        self.epoch, self.batch, self.sums = state["epoch"], state["batch"], state["sums"]
        self.best_acc, self.best_epoch, self.history = state["best_acc"], state["best_epoch"], state["history"]
        self.rng_states = state["rng_states"]


class InlineExecutor(Executor):
    """An Executor that runs each job as it is submitted, in the calling thread."""

    def submit(self, fn, /, *args, **kwargs):
        future = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def soft_targets(teacher, faces, temperature):
    """The teacher's (a model or ensemble file) probabilities for uint8 ``faces`` (N, 48, 48), in the order
    of labels.CLASSES, softened to ``temperature``: softmax(log p / T), which for one network is softmax(z / T)."""
    try:
        classifier = ExpressionClassifier(teacher)
    except ModelFileError as e:
        raise UserError(f"--teacher {e}") from None
    probs = classifier.predict_proba(faces, classes=CLASSES)
    return softmax(np.log(np.maximum(probs, 1e-12)) / temperature).astype(np.float32)


def start_from(model, path, arch, fitted):
    """Copy the weights of the model file at ``path`` (a network of architecture ``arch``) into ``model``; the
    standardisation they were trained with (where it equalizes as ``fitted``, the one measured on this data),
    so that fine-tuning starts from the network's own view of a face."""
    try:
        source = minicnn.load(path)
    except ModelFileError as e:
        raise UserError(f"--init {e}") from None
    arrays = source.state_dict()
    try:
        model.load_state_dict(arrays)
    except ValueError as e:
        raise UserError(f"--init {path}: not a model of architecture {arch} ({e})") from None
    if len(arrays) != len(model.state_dict()):
        raise UserError(f"--init {path}: not a model of architecture {arch} (it has other layers)")
    saved = source.metadata.get("preprocessing")
    if not saved or saved.get("equalize") != fitted.equalize:
        return fitted
    try:
        return Preprocessing.from_dict(saved)
    except (KeyError, TypeError, ValueError) as e:
        raise UserError(f"--init {path}: unusable preprocessing settings ({e})") from None


def load_splits(config, data, log):
    """The splits of ``data`` (a path or "demo", from resolve_data)."""
    if data == "demo":
        if config.labels != "fer2013":
            raise UserError(f"--labels {config.labels}: the demo faces have no crowd votes (FER-2013 only)")
        return demo_splits(config.seed)
    splits = load_dataset(data, skip_bad=config.skip_bad, val_fraction=config.val_fraction, seed=config.seed,
                          use_cache=not config.no_cache, log=log, detector=config.detector, labels=config.labels,
                          ferplus_mix=config.ferplus_mix)
    if "train" not in splits or not len(splits["train"][1]):
        raise DataError(f"{data}: no training split found")
    return splits


@contextmanager
def ctrl_c_stops(trainer, log):
    """While the command trains, Ctrl-C asks the trainer to stop after its current step (and checkpoint); a
    second Ctrl-C aborts at once.  The command owns the signal, so Trainer.fit runs in any thread."""
    def on_interrupt(signum, frame):
        if trainer.stop_requested:
            raise KeyboardInterrupt
        trainer.stop_requested = True
        log("\ninterrupted: finishing this batch, then saving a checkpoint (Ctrl-C again to abort)")

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def main(argv=None):
    args = parse_args(argv)
    return run_command(lambda: run(args))


def run(args):
    """The command: the configuration settled (resumed, defaults for the data, --out claimed), the data
    loaded, a Trainer fitted with the callbacks that make a run's files."""
    log = lambda *a: print(*a, flush=True)     # noqa: E731
    config = args.options
    if config.threads:
        set_num_threads(config.threads)
    if args.resume:
        state, read = read_checkpoint(args.resume)
        given = {k: getattr(config, k) for k in ("epochs", "quiet", "threads", "device") if getattr(config, k)}
        config = replace(TrainConfig.from_dict(state["config"], f"--resume {args.resume}"), **given)
    if config.device == "cuda":
        try:
            gpu.check_gpu()
        except RuntimeError as e:
            raise UserError(f"--device cuda: {e}") from None
    data = resolve_data(config, log)
    out_named = config.out is not None
    config = config.for_data(data)
    with ExitStack() as held:
        if args.resume:
            held.enter_context(writing_alone(config.out, "--out"))
        else:
            config = claim_run_files(config, data, out_named, held, args.overwrite, args.config)
        return train_to_the_end(config, data, args.resume, read if args.resume else None, log)


def train_to_the_end(config, data, resume, read, log):
    """Load the data, build the Trainer (from the checkpoint ``resume`` where given) and fit it with the
    callbacks that make a run's files; the exit code."""
    splits = load_splits(config, data, log)
    log(f"data: {data}: {describe(splits)}")
    trainer = Trainer(config, splits, log, (resume, read) if resume else None)
    if resume:
        log(f"resumed from {resume} at epoch {trainer.epoch + 1}, batch {trainer.batch}")
    log(f"model: {config.arch}, {trainer.model.num_parameters():,} parameters; {config.optimizer} lr {config.lr:g}, "
        f"{config.epochs} epochs, batch {config.batch_size}; out: {config.out}")
    log(f"augmentation: {trainer.augmentation_ms():.1f} ms per batch of 64" if not trainer.augment.is_off()
        else "augmentation: off")
    files = run_files(config.out, config.cycles)
    callbacks = [Progress(config.quiet), BestModel(files["model"]), JsonlLog(files["log"], trainer.history),
                 Curves(files["curves"]), EpochLine(log), Checkpoints(files["checkpoint"], config.checkpoint_minutes)]
    if config.cycles > 1:
        callbacks.append(Snapshots(config.out, config.epochs // config.cycles, log))
    try:
        with ctrl_c_stops(trainer, log):
            code = trainer.fit(callbacks)
    except TrainingError as e:
        kept = (f"the last good checkpoint is kept at {files['checkpoint']}" if files["checkpoint"].exists()
                else "no checkpoint was written yet")
        raise TrainingError(f"{e}; {kept}") from None
    if code:
        log(f"checkpoint saved: {files['checkpoint']}; continue with --resume {files['checkpoint']}")
    else:
        log(f"best val accuracy {trainer.best_acc:.4f} at epoch {trainer.best_epoch + 1}; model: {config.out}")
    return code


if __name__ == "__main__":
    sys.exit(main())
