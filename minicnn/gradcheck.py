"""Numerical gradient checking.

The analytic gradient from ``backward`` is compared with central differences,

    ∂f/∂θ_i ≈ (f(θ + h·e_i) − f(θ − h·e_i)) / (2h),

whose error is O(h²) (a one-sided difference would be O(h)).  Run it in float64:
with h = 1e-6 the rounding error of float64 (~1e-16 / h) stays near 1e-10, while
float32 would drown the comparison in noise.

The error reported per tensor is scale-relative:
    max_i |analytic_i − numeric_i| / max(max_i |analytic_i|, max_i |numeric_i|)
A correct backward gives ~1e-9 or less; a wrong one gives something of order 1.
When both gradients are below 1e-8 everywhere (a parameter with provably no effect,
such as a conv bias followed by BatchNorm) the plain absolute difference is reported.

Layers that draw random numbers (Dropout) get their generator state restored
before every forward, so every evaluation sees the same mask.
"""
import numpy as np


def relative_error(analytic, numeric):
    difference = float(np.abs(analytic - numeric).max(initial=0))
    scale = max(np.abs(analytic).max(initial=0), np.abs(numeric).max(initial=0))
    return difference if scale < 1e-8 else difference / scale


def numerical_gradient(f, array, h=1e-6):
    """Central-difference gradient of the scalar f() with respect to ``array`` (perturbed in place)."""
    grad = np.zeros_like(array)
    flat, flat_grad = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + h
        plus = f()
        flat[i] = original - h
        minus = f()
        flat[i] = original
        flat_grad[i] = (plus - minus) / (2 * h)
    return grad


def _frozen_randomness(layers):
    """A function that rewinds every layer's random generator to its current state."""
    saved = [(layer.rng, layer.rng.bit_generator.state) for layer in layers if hasattr(layer, "rng")]

    def rewind():
        for rng, state in saved:
            rng.bit_generator.state = state
    return rewind


def check_layer(layer, x, training=False, seed=0, h=1e-6):
    """Max relative error of dL/dx and of every dL/dparam for L = Σ y·R, R random (float64)."""
    x = np.array(x, dtype=np.float64)
    layer.astype(np.float64)
    rewind = _frozen_randomness([layer])
    rewind()
    y = layer.forward(x, training=training)
    weights = np.random.default_rng(seed).standard_normal(y.shape)
    layer.zero_grad()
    dx = layer.backward(weights)
    analytic = {"input": dx, **{name: g.copy() for name, g in layer.grads.items()}}

    def loss():
        rewind()
        return float((layer.forward(x, training=training) * weights).sum())

    errors = {"input": relative_error(analytic["input"], numerical_gradient(loss, x, h))}
    for name, value in layer.params.items():
        errors[name] = relative_error(analytic[name], numerical_gradient(loss, value, h))
    return errors


def check_model(model, x, labels, loss_fn, training=False, h=1e-6):
    """Max relative error of dL/dx and of every parameter ('{layer index}.{name}') for a whole model."""
    x = np.array(x, dtype=np.float64)
    model.astype(np.float64)
    rewind = _frozen_randomness(model.layers)
    # BatchNorm's running statistics change on every training forward; keep them fixed.
    buffers = [(b, b.copy()) for layer in model.layers for b in layer.buffers.values()]

    def loss():
        rewind()
        for b, saved in buffers:
            b[...] = saved
        return loss_fn.forward(model.forward(x, training=training), labels)

    loss()
    model.zero_grad()
    dx = model.backward(loss_fn.backward())
    errors = {"input": relative_error(dx, numerical_gradient(loss, x, h))}
    for i, layer in enumerate(model.layers):
        for name, value in layer.params.items():
            analytic = layer.grads[name].copy()
            errors[f"{i}.{name}"] = relative_error(analytic, numerical_gradient(loss, value, h))
    return errors
