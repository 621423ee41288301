"""What a training run does besides training, as small callbacks that ``Trainer.fit`` calls: the progress
bar (or progress lines without a terminal), the epoch line, the JSONL log, the curves, the best model and
the checkpoints.  Each sees the trainer and reads what it needs; none changes how the network learns.
A callback subclasses ``Callback`` and overrides the hooks it needs."""
import json
import sys
import threading
import time
from pathlib import Path

from . import cli
from .labels import CLASSES
from .plots import training_curves

PROGRESS_LINE_SECONDS = 30      # without a terminal, one progress line this often
COMPILE_NOTE_SECONDS = 3.0      # a first step slower than this is compiling kernels: say so


class Callback:
    """The hooks ``Trainer.fit`` calls, each doing nothing until a subclass says otherwise."""

    def on_epoch_start(self, trainer):
        """Before a pass over the training data (trainer.n_batches is set)."""

    def on_batch(self, trainer, data_rng):
        """After every training step (data_rng: the epoch's stream as it stands, for checkpoints)."""

    def on_epoch_end(self, trainer):
        """After the pass, before validation."""

    def on_epoch(self, trainer, record, improved):
        """After validation, the position already at the next epoch."""

    def on_interrupt(self, trainer, data_rng):
        """When a stop request (Ctrl-C) ended the epoch after a step."""


class Progress(Callback):
    """A tqdm bar on a terminal; elsewhere (a log file, a notebook, CI) a line every PROGRESS_LINE_SECONDS;
    and a note when the first step is slow because Numba is compiling minicnn's kernels."""

    def __init__(self, quiet=False):
        self.quiet, self.bar, self.timer, self.last_line = quiet, None, None, 0.0

    def on_epoch_start(self, trainer):
        if not self.quiet and sys.stderr.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=trainer.n_batches, initial=trainer.batch, leave=False, dynamic_ncols=True,
                            desc=f"epoch {trainer.epoch + 1}/{trainer.config.epochs}")
        self.last_line = time.monotonic()
        self.timer = threading.Timer(COMPILE_NOTE_SECONDS, print, ["compiling minicnn's kernels (the first run after "
                                                                   "an install; later runs reuse them) ..."],
                                     {"flush": True})
        self.timer.daemon = True
        self.timer.start()

    def on_batch(self, trainer, data_rng):
        self.timer.cancel()
        s = trainer.sums
        if self.bar:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{s['loss'] / s['seen']:.3f}", acc=f"{s['correct'] / s['seen']:.3f}",
                                 img_s=f"{s['seen'] / s['seconds']:.0f}")
        elif not self.quiet and time.monotonic() - self.last_line > PROGRESS_LINE_SECONDS:
            rate = s["seen"] / s["seconds"]
            left = (trainer.n_batches - trainer.batch) * trainer.config.batch_size / rate
            print(f"epoch {trainer.epoch + 1}/{trainer.config.epochs}: batch {trainer.batch}/{trainer.n_batches}, "
                  f"loss {s['loss'] / s['seen']:.3f}, acc {s['correct'] / s['seen']:.3f}, {rate:.0f} img/s, "
                  f"about {left / 60:.1f} min left in this epoch", flush=True)
            self.last_line = time.monotonic()

    def on_epoch_end(self, trainer):
        self.timer.cancel()
        if self.bar:
            self.bar.close()
            self.bar = None


class EpochLine(Callback):
    """One line per epoch: losses, accuracies, the best marked, the learning rate and the speed."""

    def __init__(self, log):
        self.log = log

    def on_epoch(self, trainer, r, improved):
        self.log(f"epoch {r['epoch']:3d}/{trainer.config.epochs}  train loss {r['train_loss']:.4f} "
                 f"acc {r['train_acc']:.4f}  val loss {r['val_loss']:.4f} acc {r['val_acc']:.4f}"
                 f"{'  *best' if improved else ''}  lr {r['lr']:.2e}  {r['img_per_s']:.0f} img/s")


class JsonlLog(Callback):
    """Each epoch's record as a line of ``path``; on resume, the file is first cut back to the epochs the
    checkpoint holds (a run killed between its log line and its checkpoint would otherwise repeat one)."""

    def __init__(self, path, history=()):
        self.path = path
        if history:
            cli.write_text_atomically(path, "".join(json.dumps(record) + "\n" for record in history))

    def on_epoch(self, trainer, record, improved):
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")


class Curves(Callback):
    """The training curves PNG, redrawn after every epoch."""

    def __init__(self, path):
        self.path = path

    def on_epoch(self, trainer, record, improved):
        training_curves(trainer.history, self.path)


def save_model(trainer, record, path):
    """The trainer's model at ``path``, with all that is needed to use it and the epoch's ``record``."""
    trainer.model.save(path, metadata={
        "classes": list(CLASSES), "input_shape": [1, trainer.size, trainer.size], "arch": trainer.config.arch,
        "preprocessing": trainer.preprocessing.to_dict(), "training": trainer.config.to_dict(),
        "metrics": {"epoch": record["epoch"], "val_acc": record["val_acc"], "val_loss": record["val_loss"],
                    "train_acc": record["train_acc"]}})


class BestModel(Callback):
    """The model with the best val accuracy so far at ``path``."""

    def __init__(self, path):
        self.path = path

    def on_epoch(self, trainer, record, improved):
        if improved:
            save_model(trainer, record, self.path)


class Snapshots(Callback):
    """The model at the end of each learning-rate cycle of ``period`` epochs, at <out>.cycle-K.npz: the
    members of a snapshot ensemble (python -m fer_app.ensemble joins them)."""

    def __init__(self, out, period, log):
        self.out, self.period, self.log = Path(out), period, log

    def on_epoch(self, trainer, record, improved):
        if record["epoch"] % self.period == 0:
            path = self.out.with_suffix(f".cycle-{record['epoch'] // self.period}.npz")
            save_model(trainer, record, path)
            self.log(f"snapshot: {path} (val accuracy {record['val_acc']:.4f})")


class Checkpoints(Callback):
    """An atomic checkpoint at ``path`` after every epoch, every ``minutes`` inside one, and on Ctrl-C."""

    def __init__(self, path, minutes):
        self.path, self.minutes, self.last = path, minutes, time.monotonic()

    def on_batch(self, trainer, data_rng):
        # (the last step of an epoch is followed by the epoch's own checkpoint)
        if self.minutes and time.monotonic() - self.last > 60 * self.minutes and trainer.batch < trainer.n_batches:
            trainer.save_checkpoint(self.path, data_rng)
            self.last = time.monotonic()

    def on_epoch(self, trainer, record, improved):
        trainer.save_checkpoint(self.path)
        self.last = time.monotonic()

    def on_interrupt(self, trainer, data_rng):
        trainer.save_checkpoint(self.path, data_rng)
