"""Files: a model, and a whole training state, each one NumPy ``.npz`` of plain arrays, read with
``allow_pickle=False`` so that loading a file can never run code.

A model file:
* ``__format__``  : the string ``"minicnn-1"``;
* ``__arch__``    : JSON list of ``{"type": LayerName, "config": {...}}``;
* ``__meta__``    : JSON object of free-form metadata (class names, normalisation, …);
* ``{i}.{name}``  : every parameter and buffer of layer i (``Sequential.state_dict``).

A file of several models (``save_models`` / ``load_models``, e.g. an ensemble) holds each model's entries under
its name (``m0/__arch__``, ``m0/3.weight`` …), ``__models__`` (JSON list of the names) and ``__state__`` (JSON).

A training state (``save_training`` / ``load_training``: continue training exactly where it stopped) holds
the same model entries, each prefixed ``model/``, and
* ``optim/{i}.{name}`` : the optimizer's arrays (momentum, Adam's moments) for parameter i;
* ``__training__``     : JSON ``{"lr": …, "schedule": the schedule's state_dict or null}``;
* ``__state__``        : JSON of the caller's own (position in the data, history, random streams …);
* ``caller/{name}``    : arrays of the caller's own (a distillation's soft targets …).

Reading checks the arrays' headers first (no unpacking, no object arrays, at most ``max_bytes`` in all)
and every layer's configuration and declared shapes against them before anything is built.
"""
import json
import os
import secrets
import zipfile

import numpy as np

from .arrays import to_numpy
from .layers import LAYER_TYPES
from .model import Sequential

FORMAT = "minicnn-1"
MAX_FILE_BYTES = 1 << 30       # a model or checkpoint file may unpack to at most this (1 GiB)


class ModelFileError(ValueError):
    """A file that is not a readable minicnn model or training state; the message names it."""


def save(model, path, metadata=None):
    """Write a model file atomically (temp file, then rename) so a crash never leaves half a file."""
    atomic_savez(path, _model_arrays(model, metadata))


def _model_arrays(model, metadata=None, prefix=""):
    """A model's entries (as in a model file), every name starting with ``prefix``."""
    meta = dict(model.metadata, **(metadata or {}))
    arrays = dict(model.state_dict(), __format__=np.array(FORMAT),
                  __arch__=np.array(json.dumps(model.architecture())), __meta__=np.array(json.dumps(meta)))
    return {prefix + k: v for k, v in arrays.items()}


def save_models(path, models, state=None):
    """Several models in one file (an ensemble, say), each under its name: ``models`` maps names to
    Sequentials; ``state`` is any JSON of the caller's (how to combine them)."""
    arrays = {"__models__": np.array(json.dumps(list(models))), "__state__": np.array(json.dumps(state))}
    for name, model in models.items():
        arrays.update(_model_arrays(model, prefix=f"{name}/"))
    atomic_savez(path, arrays)


def load_models(path, max_bytes=MAX_FILE_BYTES):
    """({name: Sequential}, the caller's state) of a file save_models wrote; ModelFileError naming the file."""
    headers = npz_headers(path, max_bytes)
    if "__models__" not in headers:
        raise ModelFileError(f"{path}: holds no set of models")
    arrays = read_npz(path, max_bytes, headers)
    try:
        names, state = json.loads(str(arrays["__models__"])), json.loads(str(arrays.get("__state__", "null")))
    except ValueError as e:
        raise ModelFileError(f"{path}: its list of models is not valid JSON ({e})") from None
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ModelFileError(f"{path}: its list of models is not a list of names")
    return {name: _build(path, headers, arrays, prefix=f"{name}/") for name in names}, state


def save_training(path, model, optimizer, schedule=None, state=None, caller_arrays=None):
    """Write everything needed to continue training, atomically: the model (as in a model file), the
    optimizer's arrays and learning rate, the schedule's position, ``state``, any JSON of the caller's, and
    ``caller_arrays``, a dict of the caller's own arrays."""
    arrays = _model_arrays(model, prefix="model/")
    arrays.update({f"caller/{k}": v for k, v in (caller_arrays or {}).items()})
    opt = optimizer.state_dict()
    arrays.update({f"optim/{k}": v for k, v in opt["arrays"].items()})
    arrays["__training__"] = np.array(json.dumps({"lr": opt["lr"],
                                                  "schedule": schedule.state_dict() if schedule else None}))
    arrays["__state__"] = np.array(json.dumps(state))
    atomic_savez(path, arrays)


def read_training(path, max_bytes=MAX_FILE_BYTES):
    """(the model, {"lr", "schedule", "state", "optim": arrays, "caller": arrays}) of a training state file,
    read and checked without building an optimizer; ModelFileError naming the file."""
    headers = npz_headers(path, max_bytes)
    if "__training__" not in headers or "__state__" not in headers:
        raise ModelFileError(f"{path}: not a minicnn training state (no __training__ / __state__ entries)")
    arrays = read_npz(path, max_bytes, headers)
    try:
        training, state = json.loads(str(arrays["__training__"])), json.loads(str(arrays["__state__"]))
    except ValueError as e:
        raise ModelFileError(f"{path}: the training state is not valid JSON ({e})") from None
    if not isinstance(training, dict) or "lr" not in training or "schedule" not in training:
        raise ModelFileError(f"{path}: the training state lacks the learning rate or the schedule")
    model = _build(path, headers, arrays, prefix="model/")
    return model, dict(training, state=state,
                       optim={k[6:]: v for k, v in arrays.items() if k.startswith("optim/")},
                       caller={k[7:]: v for k, v in arrays.items() if k.startswith("caller/")})


def load_training(path, model, optimizer, schedule=None, max_bytes=MAX_FILE_BYTES):
    """Restore a training state into ``model``, ``optimizer`` and ``schedule`` (built as when it was saved);
    returns the caller's ``state``.  ModelFileError, naming the file, when it does not fit them."""
    return restore_training(path, read_training(path, max_bytes), model, optimizer, schedule)


def restore_training(path, read, model, optimizer, schedule=None):
    """load_training's second half, for a caller that has looked at read_training's result first."""
    saved, training = read
    try:
        if saved.architecture() != model.architecture():
            raise ValueError("its architecture differs from the model's")
        model.load_state_dict(saved.state_dict())
        optimizer.load_state_dict({"lr": training["lr"], "arrays": training["optim"]})
        if schedule and training["schedule"]:
            schedule.load_state_dict(training["schedule"])
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{path}: the training state does not fit the model it describes: {e}") from None
    return training["state"]


def write_atomically(path, write, suffix=None):
    """write(tmp) into a new file beside ``path`` (its folder made if need be), then rename it over ``path``: a
    reader never sees half a file, two processes writing the same file never share a temporary one, and a
    failed write leaves nothing behind and names ``path``.  The temporary name ends in ``suffix`` (default:
    path's own), for writers that pick the format from it (NumPy, Matplotlib, OpenCV)."""
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    ending = os.path.splitext(name)[1] if suffix is None else suffix
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp{ending}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as e:           # a full disk says so without naming the file: name the one asked for
        _remove(tmp)
        raise OSError(e.errno, e.strerror or str(e), path) from e
    except BaseException:
        _remove(tmp)
        raise


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def atomic_savez(path, arrays):
    write_atomically(path, lambda tmp: np.savez_compressed(tmp, **{name: to_numpy(value)
                                                                   for name, value in arrays.items()}), ".npz")


def npz_headers(path, max_bytes=MAX_FILE_BYTES):
    """{name: (shape, dtype)} of every array in an .npz file, read from the headers alone (nothing is
    unpacked); ModelFileError for a file that is no .npz, holds objects, or would unpack to over max_bytes."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):      # np.load would take any other file for a pickle
        raise ModelFileError(f"{path}: not a readable .npz file (truncated or foreign?)")
    headers, total = {}, 0
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                with archive.open(member) as f:
                    version = np.lib.format.read_magic(f)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                    elif version == (2, 0):
                        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
                    else:
                        raise ValueError(f"unsupported array format {version}")
                if dtype.hasobject:
                    raise ModelFileError(f"{path}: holds Python objects in {member!r}; refused (they would need pickle)")
                total += int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
                if total > max_bytes:
                    raise ModelFileError(f"{path}: its arrays would unpack to over {max_bytes / 2**20:.0f} MiB; refused")
                headers[member[:-4] if member.endswith(".npy") else member] = (tuple(shape), dtype)
    except ModelFileError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, RuntimeError) as e:
        raise ModelFileError(f"{path}: not a readable .npz file (truncated or foreign?): {e}") from None
    return headers


def read_npz(path, max_bytes=MAX_FILE_BYTES, headers=None):
    """Every array of an .npz file, read without pickle after npz_headers checked it (``headers``: what it
    already said of this file, so it is not read twice); ModelFileError for anything else."""
    if headers is None:
        npz_headers(path, max_bytes)
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, KeyError) as e:
        raise ModelFileError(f"{path}: not a readable .npz file (truncated or foreign?): {e}") from None


def load(path, max_bytes=MAX_FILE_BYTES):
    """Read a model written by ``Sequential.save``; raises ModelFileError on any bad file.

    The architecture is checked against the file's array headers before any layer is built, so a crafted
    file can make load allocate no more than its arrays' size (at most ``max_bytes``)."""
    headers = npz_headers(path, max_bytes)
    if "__training__" in headers:
        raise ModelFileError(f"{path}: is a training state (a checkpoint), not a model file; give the model that "
                             f"training keeps beside it")
    if "__models__" in headers:
        raise ModelFileError(f"{path}: holds several models (an ensemble); read it with load_models")
    return _build(path, headers, read_npz(path, max_bytes, headers))


def _build(path, headers, arrays, prefix=""):
    """The Sequential whose entries (a model file's) are named prefix + …, checked and loaded."""
    if any(prefix + k not in headers for k in ("__format__", "__arch__", "__meta__")) or \
            str(arrays[prefix + "__format__"]) != FORMAT:
        raise ModelFileError(f"{path}: not a minicnn model file (no '{FORMAT}' marker{' for ' + prefix if prefix else ''})")
    try:
        arch = json.loads(str(arrays[prefix + "__arch__"]))
        metadata = json.loads(str(arrays[prefix + "__meta__"]))
        if not isinstance(arch, list) or not isinstance(metadata, dict):
            raise ValueError("expected a list of layers and an object of metadata")
        layers = []
        for i, spec in enumerate(arch):
            if spec["type"] not in LAYER_TYPES:
                raise ModelFileError(f"{path}: unknown layer type {spec['type']!r}")
            cls, config = LAYER_TYPES[spec["type"]], spec["config"]
            for name, shape in cls.state_shapes(**config).items():
                key = f"{prefix}{i}.{name}"
                if key not in headers:
                    raise ModelFileError(f"{path}: missing array {key!r}")
                if headers[key][0] != tuple(shape):
                    raise ModelFileError(f"{path}: array {key!r} has shape {headers[key][0]}, "
                                         f"layer {i} ({spec['type']}) declares {tuple(shape)}")
            layers.append(cls(**config))
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{path}: malformed architecture: {e}") from None
    model = Sequential(layers, metadata)
    try:
        model.load_state_dict({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
    except ValueError as e:
        raise ModelFileError(f"{path}: {e}") from None
    return model
