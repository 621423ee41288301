"""Sequential models and the .npz model file.

A model file is one NumPy ``.npz`` archive holding only plain arrays, so it is
read with ``allow_pickle=False`` and can never run code:

* ``__format__``  : the string ``"minicnn-1"``;
* ``__arch__``    : JSON list of ``{"type": LayerName, "config": {...}}``;
* ``__meta__``    : JSON object of free-form metadata (class names, normalisation, …);
* ``{i}.{name}``  : every parameter and buffer of layer i.
"""
import json
import os
import tempfile
import zipfile

import numpy as np

from .layers import LAYER_TYPES, ReLU

FORMAT = "minicnn-1"
MAX_FILE_BYTES = 1 << 30       # a model or checkpoint file may unpack to at most this (1 GiB)


class ModelFileError(ValueError):
    """A file that is not a readable minicnn model."""


class Parameters:
    """A model's (value, grad) pairs, looked up in its layers whenever they are iterated."""

    def __init__(self, layers):
        self._layers = layers

    def __iter__(self):
        return ((layer.params[k], layer.grads[k]) for layer in self._layers for k in layer.params)

    def __len__(self):
        return sum(len(layer.params) for layer in self._layers)


class Sequential:
    def __init__(self, layers, metadata=None):
        self.layers = list(layers)
        if len({id(layer) for layer in self.layers}) < len(self.layers):
            # backward reads what the layer's latest forward kept, so a second use would overwrite the first's
            raise ValueError("a layer appears twice in the Sequential; give each place its own layer")
        self.metadata = dict(metadata or {})

    def forward(self, x, training=False):
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    __call__ = forward

    def predict(self, x):
        """Inference: forward(x, training=False), with each ReLU layer done by the layer before it.

        Conv2D, BatchNorm and Dense apply max(·, 0) as they write their output, which saves a pass
        over memory per ReLU; the result is the same.  backward does not follow predict."""
        i = 0
        while i < len(self.layers):
            layer = self.layers[i]
            fuse = layer.fuses_relu and i + 1 < len(self.layers) and isinstance(self.layers[i + 1], ReLU)
            x = layer.forward(x, training=False, relu=True) if fuse else layer.forward(x, training=False)
            i += 2 if fuse else 1
        return x

    def backward(self, dy):
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy

    def parameters(self):
        """(value, grad) pairs in a fixed order, read from the layers each time they are iterated (so an
        optimizer built before ``astype`` updates the converted arrays); optimizers update values in place."""
        return Parameters(self.layers)

    def zero_grad(self):
        for layer in self.layers:
            layer.zero_grad()

    def astype(self, dtype):
        for layer in self.layers:
            layer.astype(dtype)
        return self

    @property
    def dtype(self):
        for layer in self.layers:
            for value in layer.params.values():
                return value.dtype
        return np.dtype(np.float32)

    def num_parameters(self):
        return sum(value.size for value, _ in self.parameters())

    def summary(self, input_shape):
        """Table of each layer's output shape and parameter count for inputs of ``input_shape`` (no batch)."""
        x = np.zeros((1,) + tuple(input_shape), dtype=self.dtype)
        rows = []
        for layer in self.layers:
            x = layer.forward(x)
            rows.append((repr(layer), str(tuple(x.shape[1:])), f"{sum(v.size for v in layer.params.values()):,}"))
        name_width = max([len("layer")] + [len(r[0]) for r in rows]) + 2     # columns never run together
        shape_width = max([len("output shape")] + [len(r[1]) for r in rows]) + 2
        width = name_width + shape_width + 12
        lines = [f"{'layer':<{name_width}}{'output shape':<{shape_width}}{'params':>12}", "-" * width]
        lines += [f"{name:<{name_width}}{shape:<{shape_width}}{count:>12}" for name, shape, count in rows]
        lines += ["-" * width, f"{'total':<{name_width + shape_width}}{self.num_parameters():>12,}"]
        return "\n".join(lines)

    def architecture(self):
        return [{"type": type(layer).__name__, "config": layer.config()} for layer in self.layers]

    def state_arrays(self):
        """Every parameter and buffer, keyed '{layer index}.{name}'."""
        return {f"{i}.{name}": value
                for i, layer in enumerate(self.layers)
                for store in (layer.params, layer.buffers)
                for name, value in store.items()}

    def load_state_arrays(self, arrays):
        for i, layer in enumerate(self.layers):
            for store in (layer.params, layer.buffers):
                for name, value in store.items():
                    key = f"{i}.{name}"
                    if key not in arrays:
                        raise ModelFileError(f"missing array {key!r}")
                    if arrays[key].shape != value.shape:
                        raise ModelFileError(f"array {key!r} has shape {arrays[key].shape}, expected {value.shape}")
                    if arrays[key].dtype.kind not in "fiu":
                        raise ModelFileError(f"array {key!r} holds {arrays[key].dtype} values, not numbers")
                    if not np.isfinite(arrays[key]).all():
                        raise ModelFileError(f"array {key!r} holds NaN or infinite values")
                    value[...] = arrays[key]

    def save(self, path, metadata=None):
        """Write the model atomically (temp file, then rename) so a crash never leaves half a file."""
        meta = dict(self.metadata, **(metadata or {}))
        arrays = dict(self.state_arrays(),
                      __format__=np.array(FORMAT),
                      __arch__=np.array(json.dumps(self.architecture())),
                      __meta__=np.array(json.dumps(meta)))
        atomic_savez(path, arrays)


def atomic_savez(path, arrays):
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.chmod(tmp, 0o666 & ~_umask())        # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except OSError as e:           # a full disk says so without naming the file: name it
        os.unlink(tmp)
        raise OSError(e.errno, e.strerror or str(e), e.filename or path) from e
    except BaseException:
        os.unlink(tmp)
        raise


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


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


def read_npz(path, max_bytes=MAX_FILE_BYTES):
    """Every array of an .npz file, read without pickle after npz_headers checked it; ModelFileError for
    anything else."""
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
    if "__format__" not in headers or "__arch__" not in headers or "__meta__" not in headers:
        raise ModelFileError(f"{path}: not a minicnn model file (no '{FORMAT}' marker)")
    arrays = read_npz(path, max_bytes)
    if str(arrays["__format__"]) != FORMAT:
        raise ModelFileError(f"{path}: not a minicnn model file (no '{FORMAT}' marker)")
    try:
        arch = json.loads(str(arrays["__arch__"]))
        metadata = json.loads(str(arrays["__meta__"]))
        if not isinstance(arch, list) or not isinstance(metadata, dict):
            raise ValueError("expected a list of layers and an object of metadata")
        layers = []
        for i, spec in enumerate(arch):
            if spec["type"] not in LAYER_TYPES:
                raise ModelFileError(f"{path}: unknown layer type {spec['type']!r}")
            cls, config = LAYER_TYPES[spec["type"]], spec["config"]
            for name, shape in cls.state_shapes(**config).items():
                key = f"{i}.{name}"
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
        model.load_state_arrays(arrays)
    except ModelFileError as e:
        raise ModelFileError(f"{path}: {e}") from None
    return model
