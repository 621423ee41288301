"""Optimizers and learning-rate schedules, with PyTorch's update rules.

Each optimizer takes ``model.parameters()`` — a list of (value, grad) pairs — and
updates the values in place.  With weight decay λ the gradient becomes g = ∇ + λ·θ.

SGD (momentum μ, learning rate η):
    b ← μ·b + g            (b = g on the first step)
    plain:     θ ← θ − η·b
    Nesterov:  θ ← θ − η·(g + μ·b)
Adam (β₁, β₂, ε), step t:
    m ← β₁·m + (1 − β₁)·g          v ← β₂·v + (1 − β₂)·g²
    θ ← θ − η · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε)

Schedules change ``optimizer.lr`` once per epoch (``step()``; ReduceOnPlateau takes the metric).
``average_weights`` averages the weights of several snapshots of one run (SWA).
"""
import math

import numpy as np


class Optimizer:
    def __init__(self, params, lr, weight_decay=0.0):
        # model.parameters() is kept as it is: it looks the arrays up in the layers at every step
        self.params = params if hasattr(params, "__len__") else list(params)
        self.lr, self.weight_decay = lr, weight_decay
        self.state = [{} for _ in self.params]
        self.packed = None       # gpu.Packed: every parameter in one flat array, each operation one pass over it

    def zero_grad(self):
        if self.packed is not None:
            self.packed.grads[...] = 0
            return
        for _, grad in self.params:
            grad[...] = 0

    def _pairs(self):
        """(value, grad, state) per parameter, the state in the value's dtype (a model converted with astype
        after this optimizer was built keeps its momentum, converted too); or, once packed, the one triple of
        the packed arrays, after which each parameter's state is a view of the packed state again."""
        if self.packed is not None:
            yield self.packed.values, self.packed.grads, self.packed.state
            if self.packed.state.keys() - self.state[0].keys():     # state this step created (updates are in place)
                self.packed.share_state(self.state)
            return
        for (value, grad), state in zip(self.params, self.state):
            for key, saved in state.items():
                if saved.shape == value.shape and saved.dtype != value.dtype:
                    state[key] = saved.astype(value.dtype)
            yield value, grad, state

    def _grad(self, value, grad):
        if self.weight_decay:
            return grad + value.dtype.type(self.weight_decay) * value
        return grad

    def state_dict(self):
        """Plain arrays and numbers only, so it can go into an .npz checkpoint."""
        arrays = {f"{i}.{k}": v for i, s in enumerate(self.state) for k, v in s.items()}
        return {"lr": self.lr, "arrays": arrays}

    def load_state_dict(self, state):
        """Restore what state_dict gave; ValueError (before anything changes) when it does not fit these params."""
        values = [value for value, _ in self.params]
        lr, restored = float(state["lr"]), [{} for _ in values]
        for key, value in state["arrays"].items():
            i, _, name = key.partition(".")
            if not (i.isdigit() and int(i) < len(values) and name):
                raise ValueError(f"optimizer state {key!r} belongs to no parameter (there are {len(values)})")
            expected = values[int(i)]
            if np.shape(value) != expected.shape and np.ndim(value) != 0:
                raise ValueError(f"optimizer state {key!r} has shape {np.shape(value)}, its parameter {expected.shape}")
            restored[int(i)][name] = np.array(value)
        self.lr, self.state = lr, restored


class SGD(Optimizer):
    def __init__(self, params, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        if nesterov and momentum <= 0:
            raise ValueError("Nesterov momentum requires momentum > 0")
        self.momentum, self.nesterov = momentum, nesterov

    def step(self):
        for value, grad, state in self._pairs():
            g = self._grad(value, grad)
            if self.momentum:
                if "momentum" not in state:
                    state["momentum"] = g.copy()
                else:
                    buf = state["momentum"]
                    buf *= value.dtype.type(self.momentum)
                    buf += g
                g = g + value.dtype.type(self.momentum) * state["momentum"] if self.nesterov else state["momentum"]
            value -= value.dtype.type(self.lr) * g


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        self.betas, self.eps = tuple(betas), eps

    def step(self):
        b1, b2 = self.betas
        for value, grad, state in self._pairs():
            g = self._grad(value, grad)
            if "m" not in state:
                state["m"], state["v"], state["t"] = np.zeros_like(value), np.zeros_like(value), np.zeros(())
            m, v = state["m"], state["v"]
            state["t"] += 1
            t = float(state["t"])
            m *= value.dtype.type(b1)
            m += value.dtype.type(1 - b1) * g
            v *= value.dtype.type(b2)
            v += value.dtype.type(1 - b2) * g * g
            denom = np.sqrt(v / value.dtype.type(1 - b2 ** t)) + value.dtype.type(self.eps)
            value -= value.dtype.type(self.lr / (1 - b1 ** t)) * m / denom


class EpochSchedule:
    """A learning rate that is a formula of the epoch: subclasses give ``lr_at(epoch)``; ``step()`` once per epoch."""

    def __init__(self, optimizer):
        self.optimizer, self.base_lr, self.epoch = optimizer, optimizer.lr, 0

    def lr_at(self, epoch):
        raise NotImplementedError

    def step(self, metric=None):
        self.epoch += 1
        self.optimizer.lr = self.lr_at(self.epoch)

    def state_dict(self):
        return {"base_lr": self.base_lr, "epoch": self.epoch}

    def load_state_dict(self, state):
        """Restore the position; the lr follows from it (so a schedule lengthened on resume takes effect at once)."""
        self.base_lr, self.epoch = float(state["base_lr"]), int(state["epoch"])
        self.optimizer.lr = self.lr_at(self.epoch)


class StepLR(EpochSchedule):
    """lr = base_lr · gamma^(epoch // step_size)."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        super().__init__(optimizer)
        self.step_size, self.gamma = step_size, gamma

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class CosineLR(EpochSchedule):
    """lr = min_lr + (base_lr − min_lr) · (1 + cos(π · t / P)) / 2,  P = total_epochs / cycles,  t = epoch mod P.

    With ``cycles`` > 1 the cosine restarts from base_lr every P epochs (warm restarts, Loshchilov & Hutter
    2017): each cycle ends near a minimum, and the models at the cycles' ends make a snapshot ensemble
    (Huang et al. 2017).  After total_epochs the lr stays at min_lr."""

    def __init__(self, optimizer, total_epochs, min_lr=0.0, cycles=1):
        super().__init__(optimizer)
        if total_epochs % cycles:
            raise ValueError(f"total_epochs ({total_epochs}) must be a multiple of cycles ({cycles})")
        self.total_epochs, self.min_lr, self.cycles = total_epochs, min_lr, cycles

    def lr_at(self, epoch):
        period = self.total_epochs // self.cycles
        progress = 1.0 if epoch >= self.total_epochs else (epoch % period) / period
        return self.min_lr + (self.base_lr - self.min_lr) * (1 + math.cos(math.pi * progress)) / 2


class ReduceOnPlateau:
    """Multiply lr by ``factor`` when the metric (higher is better) has not improved for ``patience`` epochs."""

    def __init__(self, optimizer, factor=0.5, patience=3, min_lr=1e-6):
        self.optimizer, self.factor, self.patience, self.min_lr = optimizer, factor, patience, min_lr
        self.best, self.bad_epochs = -math.inf, 0

    def step(self, metric):
        if metric > self.best:
            self.best, self.bad_epochs = metric, 0
            return
        self.bad_epochs += 1
        if self.bad_epochs > self.patience:
            self.optimizer.lr = max(self.optimizer.lr * self.factor, self.min_lr)
            self.bad_epochs = 0

    def state_dict(self):
        return {"best": self.best, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state):
        self.best, self.bad_epochs = float(state["best"]), int(state["bad_epochs"])


def average_weights(models):
    """Stochastic weight averaging (Izmailov et al. 2018): θ̄ = (1/M) · Σₘ θₘ, array by array, over M models of
    one architecture — the snapshots one run passes through, each a point near a wide minimum; their mean lies
    nearer its centre.  Returns a state dict for ``load_state_dict``.  Its BatchNorm running statistics are
    the mean of the models' and are not those of θ̄'s own activations: recompute them
    (``Sequential.recompute_batchnorm_statistics``) before using the averaged model."""
    states = [model.state_dict() for model in models]
    if not states:
        raise ValueError("no models to average")
    for i, state in enumerate(states[1:], start=2):
        if {k: v.shape for k, v in state.items()} != {k: v.shape for k, v in states[0].items()}:
            raise ValueError(f"model {i} does not have the arrays of model 1 (another architecture)")
    return {key: np.mean([state[key] for state in states], axis=0).astype(value.dtype)
            for key, value in states[0].items()}
