"""Layers against PyTorch on random shapes: forward outputs and all gradients (optional oracle).

Prints both timings, as early tinygrad's test_ops did."""
import time

import numpy as np
import pytest

from minicnn import layers as L

torch = pytest.importorskip("torch", reason="PyTorch not installed (optional oracle: pip install torch==2.13.0)")
F = torch.nn.functional


def compare(ours, theirs_fn, x, params):
    """Run our layer and a torch function on the same data; compare y, dx and every dparam."""
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    y = ours.forward(x, training=True)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = ours.backward(dy)
    t1 = time.perf_counter()
    tx = torch.tensor(x, requires_grad=True)
    tparams = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    ty = theirs_fn(tx, tparams)
    ty.backward(torch.tensor(dy))
    t2 = time.perf_counter()
    print(f"{ours!r}: minicnn {1e3 * (t1 - t0):.2f} ms, torch {1e3 * (t2 - t1):.2f} ms")
    assert np.allclose(y, ty.detach().numpy(), rtol=1e-4, atol=1e-4)
    assert np.allclose(dx, tx.grad.numpy(), rtol=1e-4, atol=1e-4)
    for k, tp in tparams.items():
        assert np.allclose(ours.grads[k], tp.grad.numpy(), rtol=1e-3, atol=1e-3), k


@pytest.mark.parametrize("seed", range(6))
def test_conv2d(seed):
    rng = np.random.default_rng(seed)
    N, C, Fo = rng.integers(1, 5), rng.integers(1, 6), rng.integers(1, 9)
    k, s, p = rng.choice([1, 3, 5]), rng.integers(1, 3), rng.integers(0, 3)
    H, W = rng.integers(k, 20, size=2)
    layer = L.Conv2D(C, Fo, k, s, p, rng=rng)
    layer.params["bias"][...] = rng.standard_normal(Fo)
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    compare(layer, lambda t, q: F.conv2d(t, q["weight"], q["bias"], stride=int(s), padding=int(p)), x, layer.params)


@pytest.mark.parametrize("seed", range(4))
def test_pools(seed):
    rng = np.random.default_rng(seed)
    k, s = rng.integers(2, 4), rng.integers(1, 4)
    x = rng.permutation(2 * 3 * 11 * 9).reshape(2, 3, 11, 9).astype(np.float32) / 100
    compare(L.MaxPool2D(k, s), lambda t, q: F.max_pool2d(t, int(k), int(s)), x, {})
    compare(L.AvgPool2D(k, s), lambda t, q: F.avg_pool2d(t, int(k), int(s)), x, {})


def test_batchnorm_dense_dropout_free_stack():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((6, 4, 5, 5)).astype(np.float32)
    bn = L.BatchNorm2D(4)
    compare(bn, lambda t, q: F.batch_norm(t, torch.zeros(4), torch.ones(4), q["gamma"], q["beta"], training=True),
            x, bn.params)
    dense = L.Dense(7, 3, rng=rng)
    compare(dense, lambda t, q: t @ q["weight"] + q["bias"], rng.standard_normal((5, 7)).astype(np.float32),
            dense.params)


@pytest.mark.parametrize("seed", range(3))
def test_residual_block(seed):
    """x + BN(conv(relu(BN(conv(x))))) on random shapes, in training (batch statistics)."""
    rng = np.random.default_rng(seed)
    N, C = rng.integers(2, 5), rng.integers(1, 9)
    H, W = rng.integers(3, 14, size=2)
    block = L.Residual([L.Conv2D(C, C, 3, padding=1, rng=rng), L.BatchNorm2D(C), L.ReLU(),
                        L.Conv2D(C, C, 3, padding=1, rng=rng), L.BatchNorm2D(C)])
    block.params["1.gamma"][...] = rng.uniform(0.5, 1.5, C)
    block.params["4.beta"][...] = rng.standard_normal(C)

    def theirs(t, q):
        def bn(h, i):
            return F.batch_norm(h, torch.zeros(C), torch.ones(C), q[f"{i}.gamma"], q[f"{i}.beta"], training=True)
        h = F.relu(bn(F.conv2d(t, q["0.weight"], q["0.bias"], padding=1), 1))
        return t + bn(F.conv2d(h, q["3.weight"], q["3.bias"], padding=1), 4)
    compare(block, theirs, rng.standard_normal((N, C, H, W)).astype(np.float32), block.params)
