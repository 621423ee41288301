"""What a user can get wrong, checked where it enters: the error every such check raises, the allowed
range of a number (one rule for a command-line option, a --config file and an API argument), and the
rule that an output never replaces an input or an earlier run's file."""
import argparse
import math
import os
from contextlib import contextmanager
from pathlib import Path


class UserError(Exception):
    """A mistake in what the user gave (an option, a file, a model); the message names it.

    fer_app's commands print these as one line and exit with 2; any other exception is a bug
    and keeps its traceback."""


class DataError(UserError):
    """Bad input data (a dataset, an image file, a class name); the message names the file or row."""


class Range:
    """The numbers an option or argument accepts, e.g. ``Range(0, 1, high_open=True)`` for [0, 1).

    Used as an argparse ``type`` (``--momentum 2`` → "argument --momentum: must be in [0, 1), got 2")
    and by ``check(name, value)`` for values from files and API calls.  NaN and ±inf are refused."""

    def __init__(self, low=None, high=None, *, low_open=False, high_open=False, integer=False):
        self.low, self.high, self.low_open, self.high_open, self.integer = low, high, low_open, high_open, integer

    def describe(self):
        low, high = self.low, self.high
        if high is None:
            return ("above" if self.low_open else "at least") + f" {low}" if low is not None else "a number"
        if low is None:
            return ("below" if self.high_open else "at most") + f" {high}"
        return f"in {'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"

    def problem(self, value):
        """What is wrong with ``value`` (a number already parsed), or None."""
        kind = "an integer" if self.integer else "a number"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (self.integer and not isinstance(value, int)):
            return f"must be {kind}, got {value!r}"
        if not math.isfinite(value):
            return f"must be a finite number, got {value}"
        low, high = self.low, self.high
        if (low is not None and (value < low or (self.low_open and value == low))) or \
                (high is not None and (value > high or (self.high_open and value == high))):
            return f"must be {self.describe()}, got {value}"
        return None

    def check(self, name, value, error=ValueError):
        problem = self.problem(value)
        if problem:
            raise error(f"{name} {problem}")
        return value

    def __call__(self, text):
        try:
            value = int(text) if self.integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {'an integer' if self.integer else 'a number'}, "
                                             f"got {text!r}") from None
        problem = self.problem(value)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value


POSITIVE_INT = Range(1, integer=True)
NON_NEGATIVE = Range(0)
POSITIVE = Range(0, low_open=True)
FRACTION = Range(0, 1, high_open=True)        # [0, 1)
PROBABILITY = Range(0, 1)                     # [0, 1]
SEED = Range(0, 2**32 - 1, integer=True)       # what NumPy's generators take


def same_or_inside(path, other):
    """True when ``path`` is ``other`` or lies inside the folder ``other`` (links and .. resolved)."""
    path, other = Path(path).resolve(), Path(other).resolve()
    return path == other or other in path.parents


def check_outputs(outputs, inputs, overwrite=False):
    """Refuse outputs that would replace or land inside an input, or replace each other; refuse to replace
    an existing file unless ``overwrite``.

    ``outputs`` and ``inputs`` are (option, path) pairs, e.g. ("--out", "runs/x.npz"); a None path is skipped.
    An output folder is given with the files it would receive: ("--output", folder, [names])."""
    inputs = [(option, path) for option, path in inputs if path is not None]
    seen = []
    for option, path, *files in (o for o in outputs if o[1] is not None):
        for in_option, in_path in inputs:
            if same_or_inside(path, in_path) or (files and same_or_inside(in_path, path)):
                raise UserError(f"{option} {path}: would write over {in_option} {in_path}, an input; "
                                f"choose another {option}")
        for other_option, other in seen:
            if same_or_inside(path, other) or same_or_inside(other, path):
                raise UserError(f"{option} {path} and {other_option} {other} are the same place; choose two")
        seen.append((option, path))
        targets = [Path(path) / name for name in files[0]] if files else [Path(path)]
        existing = [t for t in targets if t.exists()]
        if files and Path(path).exists() and not Path(path).is_dir():
            raise UserError(f"{option} {path}: is a file; it must name a folder")
        if existing and not overwrite:
            where = f"{existing[0]}" + (f" and {len(existing) - 1} more" if len(existing) > 1 else "")
            raise UserError(f"{option} {path}: {where} already exists; choose another {option} or pass --overwrite "
                            f"to replace it")


def lock_path(path):
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


def is_locked(path):
    """Whether a live process holds ``path``'s lock (writing_alone)."""
    holder = _lock_holder(lock_path(path))
    return holder is not None and _alive(holder)


@contextmanager
def writing_alone(path, option):
    """Hold a lock file beside ``path`` while this process writes it: a second command that would write the
    same file at the same time stops in one line instead of interleaving with the first.  The lock holds the
    process id; one left by a process that is gone (killed) is taken over."""
    lock = lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            holder = _lock_holder(lock)
            if holder is not None and _alive(holder):
                raise UserError(f"{option} {path}: another run (process {holder}) is writing there; wait for it or "
                                f"choose another {option} (remove {lock} if no such run is left)") from None
            lock.unlink(missing_ok=True)            # its process is gone
    with os.fdopen(fd, "w") as f:
        f.write(str(os.getpid()))
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _lock_holder(lock):
    try:
        return int(lock.read_text().strip() or -1)
    except (OSError, ValueError):
        return None


def _alive(pid):
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:             # someone else's process: alive
        return True
    return True
