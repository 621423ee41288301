"""Softmax cross-entropy, the loss for K-way classification, and its soft-target form for distillation.

Shapes: logits z (N, K); labels y: integers (N,), or target distributions (N, K) whose rows sum to 1
(crowd votes: each class's share of the annotators), whose class is then y_n = argmax of row n.

    p = softmax(z),  computed stably as exp(z − max z) / Σ exp(z − max z)
    target distribution q: one-hot(y) (or the given distribution d) mixed with the uniform distribution
        when label smoothing ε > 0:   q = (1 − ε)·onehot(y) + ε/K   (q = (1 − ε)·d + ε/K)
    per-example loss  ℓ_n = −Σ_k q[n,k] · log p[n,k]
    batch loss        L = Σ_n w[y_n]·ℓ_n / Σ_n w[y_n]   (w = class weights, all 1 by default,
                      which makes L the plain mean)
    gradient          dL/dz[n] = w[y_n] · (p[n] − q[n]) / Σ_n w[y_n]

Distillation (Hinton, Vinyals & Dean 2015): a student learns a teacher's softened probabilities t (N, K),
both sides at temperature T:

    s = softmax(z / T)
    L = T² · (1/N) Σ_n Σ_k t[n,k] · (log t[n,k] − log s[n,k])      (KL(t ‖ s), scaled by T² so that its
                                                                     gradient keeps its size as T changes)
    dL/dz[n] = T · (s[n] − t[n]) / N
"""
import numpy as np


def log_softmax(z):
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class SoftmaxCrossEntropy:
    def __init__(self, label_smoothing=0.0, class_weights=None):
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = label_smoothing
        self.class_weights = None if class_weights is None else np.asarray(class_weights, dtype=np.float64)

    def forward(self, logits, labels):
        labels = np.asarray(labels)
        N, K = logits.shape
        log_p = log_softmax(logits)
        q = np.full((N, K), self.label_smoothing / K, dtype=logits.dtype)
        if labels.ndim == 2:
            if labels.shape != (N, K) or not np.allclose(labels.sum(axis=1), 1, atol=1e-4) or labels.min() < 0:
                raise ValueError(f"target distributions must be {(N, K)} non-negative rows summing to 1")
            q += (1.0 - self.label_smoothing) * labels
            labels = labels.argmax(axis=1)
        elif labels.shape != (N,) or labels.min(initial=0) < 0 or labels.max(initial=0) >= K:
            raise ValueError(f"labels must be {N} integers in [0, {K}), got shape {labels.shape}")
        else:
            q[np.arange(N), labels] += 1.0 - self.label_smoothing
        w = np.ones(N) if self.class_weights is None else self.class_weights[labels]
        w = (w / w.sum()).astype(logits.dtype)
        self._cache = (np.exp(log_p), q, w)
        return float((w[:, None] * q * -log_p).sum())

    def backward(self):
        p, q, w = self._cache
        return w[:, None] * (p - q)


class SoftTargetCrossEntropy:
    """KL divergence from soft targets (a teacher's probabilities at ``temperature``) to softmax(logits / T),
    times T² (see the module's equations)."""

    def __init__(self, temperature=1.0):
        if not temperature > 0:
            raise ValueError(f"temperature must be above 0, got {temperature}")
        self.temperature = temperature

    def forward(self, logits, targets):
        N, K = logits.shape
        if targets.shape != (N, K):
            raise ValueError(f"targets must have the logits' shape {(N, K)}, got {targets.shape}")
        T = self.temperature
        log_s = log_softmax(logits / T)
        t = targets.astype(logits.dtype)
        self._cache = (np.exp(log_s), t)
        log_t = np.log(np.where(t > 0, t, 1))          # 0 · log 0 = 0
        return float(T * T * (t * (log_t - log_s)).sum() / N)

    def backward(self):
        s, t = self._cache
        return self.temperature * (s - t) / len(s)
