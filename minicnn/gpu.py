"""Training on an NVIDIA GPU through CuPy: moving a model there and back, and one update for all its parameters.

A GPU wants a few large array operations per layer, each one launch over the whole batch: that is each
layer's whole-array form (``array_forward``/``array_backward`` in minicnn/layers/, written against the
NumPy API), which Layer.forward runs for any array that is not NumPy's.  So nothing here knows a layer;
this module only puts the arrays on the GPU and takes them back:

    model_to_gpu(model, optimizer)   # params, grads, buffers and optimizer state become CuPy arrays (packed)
    logits = model.forward(x, training=True)     # x: any array; Sequential moves it to the GPU first
    model.backward(dlogits)                      # dlogits on the GPU or the CPU
    optimizer.step()                             # one update of the packed arrays (Packed)
    model_to_cpu(model, optimizer)               # and back; model.save / save_training do that per array

Dropout draws its masks from the layer's NumPy generator, as on the CPU, so a run on the GPU keeps the
same random streams.  docs/gpu.md has the derivations and the timings.

CuPy is an optional dependency (``pip install cupy-cuda12x``, or the wheel for your CUDA):
``check_gpu()`` says in one line what is missing, CuPy or a GPU.
"""
import numpy as np

from .arrays import array_module, to_numpy


def cupy_module():
    try:
        import cupy
    except ImportError:
        raise ImportError("training on a GPU needs CuPy: pip install cupy-cuda12x (or the wheel for your CUDA "
                          "version; see https://docs.cupy.dev/en/stable/install.html)") from None
    return cupy


def check_gpu():
    """RuntimeError saying why, unless CuPy is installed and finds a GPU."""
    try:
        cupy = cupy_module()
        count = cupy.cuda.runtime.getDeviceCount()
    except ImportError as e:
        raise RuntimeError(str(e)) from None
    except Exception as e:          # noqa: BLE001  (CuPy's CUDARuntimeError where there is no driver or GPU)
        raise RuntimeError(f"CuPy finds no usable NVIDIA GPU ({type(e).__name__}: {e})") from None
    if not count:
        raise RuntimeError("CuPy finds no NVIDIA GPU")


def to_gpu(x):
    return cupy_module().asarray(x)


def _move(model, optimizer, convert):
    for layer in model.layers:
        for store in (layer.params, layer.grads, layer.buffers):
            for name, value in store.items():
                store[name] = convert(value)
    if optimizer is not None:
        optimizer.state = [{key: convert(value) if np.ndim(value) else value for key, value in state.items()}
                           for state in optimizer.state]


class Packed:
    """A model's parameters gathered into one flat array, which the layers then hold views of; their gradients
    into another, and an optimizer's state alike.  A GPU runs each operation of an update as one launch, and a
    launch costs about as much for a bias of 7 values as for a million weights: the optimizer's ~10 operations
    per parameter become ~10 for the whole model (optim.Optimizer uses ``optimizer.packed``)."""

    def __init__(self, model, optimizer=None):
        pairs = list(model.parameters())
        xp = array_module(pairs[0][0])
        ends = np.cumsum([value.size for value, _ in pairs])
        self.places = [(end - value.size, end, value.shape) for end, (value, _) in zip(ends, pairs)]
        self.values = xp.concatenate([value.reshape(-1) for value, _ in pairs])
        self.grads = xp.concatenate([grad.reshape(-1) for _, grad in pairs])
        i = 0
        for layer in model.layers:
            for name in layer.params:
                layer.params[name], layer.grads[name] = self.view(self.values, i), self.view(self.grads, i)
                i += 1
        states = optimizer.state if optimizer is not None else [{}]
        self.state = {key: xp.concatenate([state[key].reshape(-1) for state in states]) if np.ndim(value)
                      else value for key, value in states[0].items()}
        if optimizer is not None:
            self.share_state(optimizer.state)
            optimizer.packed = self

    def view(self, flat, i):
        start, end, shape = self.places[i]
        return flat[start:end].reshape(shape)

    def share_state(self, states):
        """Each parameter's optimizer state as views of the packed state (state_dict and checkpoints read those)."""
        for i, state in enumerate(states):
            state.update({key: self.view(value, i) if np.ndim(value) else value for key, value in self.state.items()})


def model_to_gpu(model, optimizer=None):
    """Move the model's params, grads and buffers (and the optimizer's state) to the GPU, in place, and pack the
    params, grads and optimizer state into one array each (Packed)."""
    _move(model, optimizer, to_gpu)
    if len(model.parameters()):
        Packed(model, optimizer)


def model_to_cpu(model, optimizer=None):
    if optimizer is not None:
        optimizer.packed = None
    _move(model, optimizer, to_numpy)
