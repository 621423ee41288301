"""Training on an NVIDIA GPU: every layer's forward and backward in whole-array operations, for CuPy.

The layers in minicnn/layers/ run their loops as Numba kernels on the CPU's cores.  A GPU wants the
opposite: a few large array operations per layer, each one launch over the whole batch.  This module
holds that second form of the same equations (each layer's docstring has them), written against the
NumPy API alone so that the same code runs on ``cupy`` arrays on a GPU and on ``numpy`` arrays in the
tests, which compare it with the layers' own forward and backward.

    model_to_gpu(model, optimizer)   # params, grads, buffers and optimizer state become CuPy arrays (packed)
    logits = model.forward(x, training=True)     # x: any array; it is moved to the GPU first
    model.backward(dlogits)                      # dlogits on the GPU (to_gpu) or the CPU
    optimizer.step()                             # one update of the packed arrays (Packed)
    model_to_cpu(model, optimizer)               # and back; model.save / save_training do that per array

Sequential sends its forward and backward here when its parameters live on a GPU.  Conv2D is im2col
with the whole batch in one matrix product (cuBLAS): X_col (C·k·k, N·Ho·Wo) is one copy of a strided view
of the padded input, Y = W_mat · X_col; backward dW = dY · X_colᵀ, and dL/dx is for a stride-1 convolution
another convolution (of dy with the turned filters), else col2im of W_matᵀ · dY.  Max pooling over windows
that tile the image is one reshape.  Dropout draws its masks from the layer's NumPy generator, as on the
CPU, so a run on the GPU keeps the same random streams.  docs/gpu.md has the derivations and the timings.

CuPy is an optional dependency (``pip install cupy-cuda12x``, or the wheel for your CUDA):
``check_gpu()`` says in one line what is missing, CuPy or a GPU.
"""
import numpy as np

from .layers import (AvgPool2D, BatchNorm1D, BatchNorm2D, Conv2D, Dense, Dropout, Flatten, GlobalAvgPool2D,
                     LeakyReLU, MaxPool2D, ReLU)
from .layers.conv import conv_output_size


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


def on_gpu(x):
    """True for a CuPy array (told by its type's package, so CuPy need not be imported to ask)."""
    return type(x).__module__.partition(".")[0] == "cupy"


def array_module(x):
    """numpy for NumPy arrays, cupy for CuPy arrays."""
    return np if isinstance(x, np.ndarray) else cupy_module().get_array_module(x)


def to_cpu(x):
    """A NumPy array of ``x``, wherever it lives."""
    return x.get() if on_gpu(x) else x


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
    _move(model, optimizer, to_cpu)


# ---------------------------------------------------------------- the pass over the layers

def forward(layers, x, training):
    for layer in layers:
        x = FORWARD[type(layer)](layer, x, training)
    return x


def backward(layers, dy):
    for layer in reversed(layers):
        dy = BACKWARD[type(layer)](layer, dy)
    return dy


# ---------------------------------------------------------------- window slices (convolution, pooling)

def _window_slices(k, stride, Ho, Wo):
    """For every offset (i, j) of a k×k window, the slices of the input it reads across all outputs."""
    return [(slice(i, i + stride * (Ho - 1) + 1, stride), slice(j, j + stride * (Wo - 1) + 1, stride))
            for i in range(k) for j in range(k)]


def _im2col(x, k, stride, pad, Ho, Wo):
    """X_col (C·k·k, N·Ho·Wo): row (c, i, j), column (n, oh, ow) holds x_padded[n, c, oh·s + i, ow·s + j].
    Every window is a strided view of the padded input; X_col is that view copied once."""
    xp = array_module(x)
    N, C = x.shape[:2]
    padded = xp.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x
    sN, sC, sH, sW = padded.strides
    windows = xp.lib.stride_tricks.as_strided(padded, (C, k, k, N, Ho, Wo),
                                              (sC, sH, sW, sN, stride * sH, stride * sW))
    return windows.reshape(C * k * k, N * Ho * Wo)


def _col2im(dcols, shape, k, stride, pad, Ho, Wo):
    """The adjoint of _im2col: each tap's gradient added back to the pixel it read."""
    xp = array_module(dcols)
    N, C, H, W = shape
    taps = dcols.reshape(C, k * k, N, Ho, Wo)
    padded = xp.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=dcols.dtype)
    for t, (rows, cols) in enumerate(_window_slices(k, stride, Ho, Wo)):
        padded[:, :, rows, cols] += taps[:, t].transpose(1, 0, 2, 3)
    return padded[:, :, pad:pad + H, pad:pad + W]


# ---------------------------------------------------------------- layers

def conv_forward(layer, x, training):
    N, C, H, W = x.shape
    if C != layer.in_channels:
        raise ValueError(f"Conv2D expects {layer.in_channels} input channels, got {C}")
    k, s, p, F = layer.kernel_size, layer.stride, layer.padding, layer.out_channels
    Ho, Wo = conv_output_size(H, k, s, p), conv_output_size(W, k, s, p)
    cols = _im2col(x, k, s, p, Ho, Wo)
    rows = layer.params["weight"].reshape(F, -1) @ cols + layer.params["bias"].reshape(F, 1)    # (F, N·Ho·Wo)
    layer._gpu_saved = (x.shape, cols, Ho, Wo)
    return rows.reshape(F, N, Ho, Wo).transpose(1, 0, 2, 3)


def conv_backward(layer, dy):
    shape, cols, Ho, Wo = layer._gpu_saved
    F, w, k, p = layer.out_channels, layer.params["weight"], layer.kernel_size, layer.padding
    dy_rows = dy.transpose(1, 0, 2, 3).reshape(F, -1)                                        # (F, N·Ho·Wo)
    layer.grads["weight"] += (dy_rows @ cols.T).reshape(w.shape)
    layer.grads["bias"] += dy_rows.sum(axis=1)
    if layer.stride == 1 and p < k:
        return _input_grad_as_convolution(dy, w, p, shape)
    return _col2im(w.reshape(F, -1).T @ dy_rows, shape, k, layer.stride, p, Ho, Wo)


def _input_grad_as_convolution(dy, w, pad, shape):
    """dL/dx of a stride-1 convolution is itself a convolution: dy, padded by k − 1 − pad, correlated with the
    filters turned by 180° with their in and out channels swapped,
        dx[n, c, h, w] = Σ_{f,i,j} dy_padded[n, f, h + i, w + j] · W[f, c, k−1−i, k−1−j],
    one im2col and one matrix product instead of col2im's k·k scattered additions."""
    N, C, H, W = shape
    F, k = w.shape[0], w.shape[2]
    cols = _im2col(dy, k, 1, k - 1 - pad, H, W)                                              # (F·k·k, N·H·W)
    turned = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).reshape(C, F * k * k)
    return (turned @ cols).reshape(C, N, H, W).transpose(1, 0, 2, 3)


def batchnorm_forward(layer, x, training):
    if x.ndim != layer.expected_ndim or x.shape[1] != layer.num_features:
        raise ValueError(f"{type(layer).__name__}({layer.num_features}) got input of shape {x.shape}")
    xp = array_module(x)
    x3 = x.reshape(x.shape[0], x.shape[1], -1)
    if training:
        m = x3.shape[0] * x3.shape[2]
        if m < 2:
            raise ValueError(f"{type(layer).__name__} in training needs more than one value per channel")
        mean = x3.mean(axis=(0, 2))
        centered = x3 - mean.reshape(1, -1, 1)
        var = (centered * centered).mean(axis=(0, 2))
        mom, running_mean, running_var = layer.momentum, layer.buffers["running_mean"], layer.buffers["running_var"]
        running_mean *= 1 - mom
        running_mean += mom * mean
        running_var *= 1 - mom
        running_var += (mom * m / (m - 1)) * var
    else:
        mean, var = layer.buffers["running_mean"], layer.buffers["running_var"]
        centered = x3 - mean.reshape(1, -1, 1)
    inv_std = 1 / xp.sqrt(var + layer.eps)
    x_hat = centered * inv_std.reshape(1, -1, 1)
    layer._gpu_saved = (x_hat, inv_std, training)
    return (layer.params["gamma"].reshape(1, -1, 1) * x_hat + layer.params["beta"].reshape(1, -1, 1)).reshape(x.shape)


def batchnorm_backward(layer, dy):
    x_hat, inv_std, training = layer._gpu_saved
    dy3 = dy.reshape(x_hat.shape)
    dgamma, dbeta = (dy3 * x_hat).sum(axis=(0, 2)), dy3.sum(axis=(0, 2))
    layer.grads["gamma"] += dgamma
    layer.grads["beta"] += dbeta
    scale = (layer.params["gamma"] * inv_std).reshape(1, -1, 1)
    if not training:              # the statistics were constants
        return (scale * dy3).reshape(dy.shape)
    m = dy3.shape[0] * dy3.shape[2]
    return (scale * (dy3 - dbeta.reshape(1, -1, 1) / m - x_hat * dgamma.reshape(1, -1, 1) / m)).reshape(dy.shape)


def _pool_windows(layer, x):
    N, C, H, W = x.shape
    k, s = layer.kernel_size, layer.stride
    if H < k or W < k:
        raise ValueError(f"{type(layer).__name__}({k}) needs inputs of at least {k}x{k}, got {H}x{W}")
    Ho, Wo = conv_output_size(H, k, s, 0), conv_output_size(W, k, s, 0)
    return _window_slices(k, s, Ho, Wo)


def maxpool_forward(layer, x, training):
    xp = array_module(x)
    N, C, H, W = x.shape
    k = layer.kernel_size
    if layer.stride == k and H % k == 0 and W % k == 0:
        # windows that tile the image: one reshaped copy, (N, C, Ho, Wo, k·k), window entries in row-major order
        taps = x.reshape(N, C, H // k, k, W // k, k).transpose(0, 1, 2, 4, 3, 5).reshape(N, C, H // k, W // k, k * k)
        argmax = taps.argmax(axis=-1)                          # the first maximum wins, as on the CPU
        layer._gpu_saved = (x.shape, None, argmax)
        return taps.max(axis=-1)
    windows = _pool_windows(layer, x)
    taps = xp.stack([x[:, :, rows, cols] for rows, cols in windows])      # (k·k, N, C, Ho, Wo)
    argmax = taps.argmax(axis=0)
    layer._gpu_saved = (x.shape, windows, argmax)
    return taps.max(axis=0)


def maxpool_backward(layer, dy):
    xp = array_module(dy)
    shape, windows, argmax = layer._gpu_saved
    if windows is None:                                        # the tiling windows: dy to each window's winner
        N, C, Ho, Wo = dy.shape
        k = layer.kernel_size
        routed = (argmax[..., None] == xp.arange(k * k)) * dy[..., None]
        return routed.reshape(N, C, Ho, Wo, k, k).transpose(0, 1, 2, 4, 3, 5).reshape(shape)
    dx = xp.zeros(shape, dtype=dy.dtype)
    for t, (rows, cols) in enumerate(windows):
        dx[:, :, rows, cols] += xp.where(argmax == t, dy, 0)
    return dx


def avgpool_forward(layer, x, training):
    windows = _pool_windows(layer, x)
    layer._gpu_saved = (x.shape, windows)
    return sum(x[:, :, rows, cols] for rows, cols in windows) / x.dtype.type(len(windows))


def avgpool_backward(layer, dy):
    xp = array_module(dy)
    shape, windows = layer._gpu_saved
    dx, share = xp.zeros(shape, dtype=dy.dtype), dy / dy.dtype.type(len(windows))
    for rows, cols in windows:
        dx[:, :, rows, cols] += share
    return dx


def dense_forward(layer, x, training):
    if x.ndim != 2 or x.shape[1] != layer.in_features:
        raise ValueError(f"Dense expects input (N, {layer.in_features}), got {x.shape}")
    layer._gpu_saved = x
    return x @ layer.params["weight"] + layer.params["bias"]


def dense_backward(layer, dy):
    x = layer._gpu_saved
    layer.grads["weight"] += x.T @ dy
    layer.grads["bias"] += dy.sum(axis=0)
    return dy @ layer.params["weight"].T


def relu_forward(layer, x, training):
    y = array_module(x).maximum(x, 0)
    layer._gpu_saved = y
    return y


def relu_backward(layer, dy):
    return dy * (layer._gpu_saved > 0)


def dropout_forward(layer, x, training):
    if not training or layer.p == 0.0:
        layer._gpu_saved = None
        return x
    keep = layer.rng.random(x.shape, dtype=np.float32) >= layer.p
    scale = array_module(x).asarray(keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - layer.p)))
    layer._gpu_saved = scale
    return x * scale


def dropout_backward(layer, dy):
    return dy if layer._gpu_saved is None else dy * layer._gpu_saved


# layers whose own forward and backward are whole-array operations already
_OWN_CODE = (lambda layer, x, training: layer.forward(x, training=training)), (lambda layer, dy: layer.backward(dy))


_PAIRS = {Conv2D: (conv_forward, conv_backward), BatchNorm2D: (batchnorm_forward, batchnorm_backward),
          BatchNorm1D: (batchnorm_forward, batchnorm_backward), MaxPool2D: (maxpool_forward, maxpool_backward),
          AvgPool2D: (avgpool_forward, avgpool_backward), Dense: (dense_forward, dense_backward),
          ReLU: (relu_forward, relu_backward), Dropout: (dropout_forward, dropout_backward),
          Flatten: _OWN_CODE, LeakyReLU: _OWN_CODE, GlobalAvgPool2D: _OWN_CODE}
FORWARD = {cls: pair[0] for cls, pair in _PAIRS.items()}
BACKWARD = {cls: pair[1] for cls, pair in _PAIRS.items()}
