"""Every Numba kernel against its plain-NumPy twin in minicnn.reference (float32, 1e-5 relative)."""
import numpy as np
import pytest

from minicnn import kernels, reference


def close(a, b):
    scale = max(np.abs(b).max(initial=0), 1e-30)
    return np.abs(a - b).max(initial=0) / scale <= 1e-5


def run_both(name, *args, outputs):
    """Call kernel and twin on identical inputs; return their filled output arrays."""
    results = []
    for module in (kernels, reference):
        outs = [np.full_like(o, 7) for o in outputs]   # non-zero start: kernels must overwrite
        getattr(module, name)(*args, *outs)
        results.append(outs)
    return results


CONV_SHAPES = [(2, 3, 7, 6, 3, 1, 1), (1, 1, 9, 9, 5, 2, 2), (3, 2, 8, 5, 1, 1, 0), (2, 4, 6, 7, 3, 2, 0),
               (1, 2, 5, 5, 3, 3, 1), (4, 1, 12, 11, 3, 1, 2)]


@pytest.mark.parametrize("N,C,H,W,k,s,p", CONV_SHAPES)
def test_im2col_and_col2im(N, C, H, W, k, s, p):
    rng = np.random.default_rng(0)
    Ho, Wo = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    cols = np.empty((C * k * k, N, Ho * Wo), np.float32)
    (fast,), (ref,) = run_both("im2col", x, k, k, s, p, outputs=[cols])
    assert close(fast, ref)
    dcols = rng.standard_normal(cols.shape).astype(np.float32)
    (fast,), (ref,) = run_both("col2im", dcols, k, k, s, p, outputs=[x])
    assert fast.dtype == np.float32 and close(fast, ref)


@pytest.mark.parametrize("shape,k,s", [((2, 3, 8, 8), 2, 2), ((1, 2, 7, 9), 3, 2), ((3, 1, 6, 5), 2, 1)])
def test_pooling_kernels(shape, k, s):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(np.float32)
    N, C, H, W = shape
    y = np.empty((N, C, (H - k) // s + 1, (W - k) // s + 1), np.float32)
    (fy, fa), (ry, ra) = run_both("maxpool_forward", x, k, s, outputs=[y, np.empty(y.shape, np.uint8)])
    assert close(fy, ry) and np.array_equal(fa, ra)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    (fast,), (ref,) = run_both("maxpool_backward", dy, fa, k, s, outputs=[x])
    assert close(fast, ref)
    (fast,), (ref,) = run_both("avgpool_forward", x, k, s, outputs=[y])
    assert close(fast, ref)
    (fast,), (ref,) = run_both("avgpool_backward", dy, k, s, outputs=[x])
    assert close(fast, ref)


def test_elementwise_kernels():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(1000).astype(np.float32)
    (fy,), (ry,) = run_both("relu_forward", x, outputs=[x])
    assert close(fy, ry)
    dy = rng.standard_normal(1000).astype(np.float32)
    (fast,), (ref,) = run_both("relu_backward", dy, fy, outputs=[x])
    assert close(fast, ref)
    rows = rng.standard_normal((4, 3, 10)).astype(np.float32)
    bias = rng.standard_normal(4).astype(np.float32)
    nchw = np.empty((3, 4, 10), np.float32)
    for relu in (False, True):
        (fast,), (ref,) = run_both("rows_to_nchw", rows, bias, relu, outputs=[nchw])
        assert close(fast, ref) and (fast.min() >= 0) == relu
    (fast,), (ref,) = run_both("nchw_to_rows", fast, outputs=[rows])
    assert close(fast, ref)


def test_maxpool_ties_go_to_first():
    x = np.zeros((1, 1, 2, 2), np.float32)
    y, idx = np.empty((1, 1, 1, 1), np.float32), np.empty((1, 1, 1, 1), np.uint8)
    for module in (kernels, reference):
        module.maxpool_forward(x, 2, 2, y, idx)
        assert idx[0, 0, 0, 0] == 0


@pytest.mark.parametrize("shape", [(4, 3, 25), (7, 5, 1), (2, 8, 36)])
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_kernels(shape, training):
    rng = np.random.default_rng(3)
    C = shape[1]
    x = (rng.standard_normal(shape) * 3 + 1).astype(np.float32)
    (fm, fv), (rm, rv) = run_both("batchnorm_stats", x, outputs=[np.empty(C), np.empty(C)])
    assert close(fm, rm) and close(fv, rv)
    inv_std = (1 / np.sqrt(rv + 1e-5)).astype(np.float32)
    scale, shift = rng.uniform(0.5, 2, C).astype(np.float32), rng.standard_normal(C).astype(np.float32)
    for relu in (False, True):
        (fy,), (ry,) = run_both("batchnorm_normalize", x, scale, shift, relu, outputs=[x])
        assert close(fy, ry) and (fy.min() >= 0) == relu
    gamma = rng.uniform(0.5, 2, C).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    fast, ref = run_both("batchnorm_backward", dy, x, rm.astype(np.float32), inv_std, gamma, training,
                         outputs=[x, np.empty(C, np.float32), np.empty(C, np.float32)])
    assert all(close(f, r) for f, r in zip(fast, ref))
