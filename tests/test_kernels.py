"""Every Numba kernel against its plain-NumPy twin in minicnn.reference (float32, 1e-5 relative)."""
import numpy as np
import pytest

from minicnn import kernels, reference, winograd


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


def assert_relu_optional(name, args_with_relu, output):
    """A kernel with a fused ReLU flag matches its twin both ways; with the flag its output is never negative.
    Returns the kernel's output with the ReLU."""
    for relu in (False, True):
        (fast,), (ref,) = run_both(name, *args_with_relu(relu), outputs=[output])
        assert close(fast, ref) and (fast.min() >= 0) == relu
    return fast


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
@pytest.mark.parametrize("relu", [False, True])
def test_pooling_kernels(shape, k, s, relu):
    """Max-pooling with and without the ReLU applied to its output (outputs it cuts pass no gradient back)."""
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(shape) - 1.5).astype(np.float32)       # some windows all negative
    N, C, H, W = shape
    y = np.empty((N, C, (H - k) // s + 1, (W - k) // s + 1), np.float32)
    (fy, fa), (ry, ra) = run_both("maxpool_forward", x, k, s, relu, outputs=[y, np.empty(y.shape, np.uint8)])
    assert close(fy, ry) and np.array_equal(fa, ra)
    assert ((fa == kernels.NO_WINNER) == (relu & (fy == 0))).all() and (fy.min() >= 0) == relu
    (fv,), (rv,) = run_both("maxpool_values", x, k, s, relu, outputs=[y])      # inference's: y alone
    assert close(fv, rv) and np.array_equal(fv, fy)
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
    scale = rng.uniform(0.5, 2, 4).astype(np.float32)
    nchw = assert_relu_optional("rows_to_nchw", lambda relu: (rows, scale, bias, relu), nchw)
    (fast,), (ref,) = run_both("nchw_to_rows", nchw, outputs=[rows])
    assert close(fast, ref)


def test_maxpool_ties_go_to_first():
    x = np.zeros((1, 1, 2, 2), np.float32)
    y, idx = np.empty((1, 1, 1, 1), np.float32), np.empty((1, 1, 1, 1), np.uint8)
    for module in (kernels, reference):
        module.maxpool_forward(x, 2, 2, False, y, idx)
        assert idx[0, 0, 0, 0] == 0


@pytest.mark.parametrize("shape,first,channels", [((4, 3, 25), 0, 3), ((7, 5, 1), 0, 5), ((2, 8, 36), 0, 8),
                                                   ((3, 8, 20), 3, 4)])
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_kernels(shape, first, channels, training):
    """Whole arrays, and a block of channels inside them (how the layer shares channels out to threads)."""
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(shape) * 3 + 1).astype(np.float32)
    (fm, fv), (rm, rv) = run_both("batchnorm_stats", x, first, outputs=[np.empty(channels), np.empty(channels)])
    block = x[:, first:first + channels]
    assert close(fm, rm) and close(fv, rv) and close(fm, block.mean(axis=(0, 2)))
    inv_std = (1 / np.sqrt(rv + 1e-5)).astype(np.float32)
    C = shape[1]
    scale, shift = rng.uniform(0.5, 2, C).astype(np.float32), rng.standard_normal(C).astype(np.float32)
    assert_relu_optional("batchnorm_normalize", lambda relu: (x, scale, shift, relu), x)
    dy = rng.standard_normal(shape).astype(np.float32)
    block_scale = rng.uniform(0.5, 2, channels).astype(np.float32)
    block_shift = (-rm * block_scale).astype(np.float32)      # y = x·scale + shift: about half of it negative
    for relu in (False, True):
        fast, ref = run_both("batchnorm_backward", dy, x, first, rm.astype(np.float32), inv_std, block_scale,
                             block_shift, training, relu,
                             outputs=[x, np.empty(channels, np.float32), np.empty(channels, np.float32)])
        assert all(close(f, r) for f, r in zip(fast, ref))
    outside = np.ones(C, bool)
    outside[first:first + channels] = False
    assert (fast[0][:, outside] == 7).all()          # channels outside the block are left as they were


@pytest.mark.parametrize("shape,first,channels", [((3, 5, 6, 6), 0, 5), ((2, 6, 7, 5), 2, 3)])
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_relu_maxpool_kernels(shape, first, channels, training):
    """BatchNorm's affine, ReLU and a 2×2 max-pool in one pass, and its backward, against the twins (which are the
    pool's and the BatchNorm's own twins composed); scales of both signs and 0, odd sides (the last row or
    column in no window)."""
    rng = np.random.default_rng(6)
    N, C, H, W = shape
    x = rng.standard_normal(shape).astype(np.float32)
    scale = rng.uniform(0.5, 2, C).astype(np.float32) * rng.choice([-1, 0, 1], C, p=[0.4, 0.2, 0.4]).astype(np.float32)
    scale[:2] = -1.5, 1.5
    shift = rng.standard_normal(C).astype(np.float32) * 0.5
    y = np.empty((N, C, H // 2, W // 2), np.float32)
    (fy, fa), (ry, ra) = run_both("batchnorm_relu_maxpool_forward", x, scale, shift,
                                  outputs=[y, np.empty(y.shape, np.uint8)])
    assert np.array_equal(fy, ry) and np.array_equal(fa, ra)
    assert (fa == kernels.NO_WINNER).any() and (fa != kernels.NO_WINNER).any()
    block = slice(first, first + channels)
    mean = x[:, block].mean(axis=(0, 2, 3)).astype(np.float32)
    inv_std = (1 / np.sqrt(x[:, block].var(axis=(0, 2, 3)) + 1e-5)).astype(np.float32)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    fast, ref = run_both("batchnorm_relu_maxpool_backward", dy, fa, x, first, mean, inv_std, scale[block], training,
                         outputs=[x, np.empty(channels, np.float32), np.empty(channels, np.float32)])
    assert all(close(f, r) for f, r in zip(fast, ref))
    outside = np.ones(C, bool)
    outside[block] = False
    assert (fast[0][:, outside] == 7).all()          # channels outside the block are left as they were


@pytest.mark.parametrize("N,C,H,W,F,k,p", [(2, 1, 7, 6, 3, 3, 1), (1, 3, 5, 8, 2, 5, 2), (3, 2, 4, 4, 4, 1, 0)])
def test_direct_convolution_kernels(N, C, H, W, F, k, p):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((F, C, k, k)).astype(np.float32)
    bias = rng.standard_normal(F).astype(np.float32)
    y = np.empty((N, F, H + 2 * p - k + 1, W + 2 * p - k + 1), np.float32)
    scale = rng.uniform(0.5, 2, F).astype(np.float32)
    assert_relu_optional("conv_direct_forward", lambda relu: (x, w, scale, bias, p, relu), y)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    (fast, fast_db), (ref, ref_db) = run_both("conv_direct_filter_grad", x, dy, p,
                                              outputs=[w, np.empty(w.shape[0], np.float32)])
    assert close(fast, ref) and close(fast_db, ref_db)
    (fast,), (ref,) = run_both("conv_direct_input_grad", dy, w, p, outputs=[x])
    assert close(fast, ref)


@pytest.mark.parametrize("m", [2, 3, 4])
@pytest.mark.parametrize("N,C,F,H,W,p", [(2, 3, 4, 6, 6, 1), (1, 2, 3, 5, 7, 1), (2, 1, 2, 4, 3, 0), (1, 2, 2, 3, 3, 2),
                                         (1, 2, 3, 9, 10, 1)])
def test_winograd_kernels(m, N, C, F, H, W, p):
    """F(2×2, 3×3), F(3×3, 3×3) and F(4×4, 3×3), with tiles that hang over the output's edge."""
    rng = np.random.default_rng(5)
    Ho, Wo, tiles_h, tiles_w = winograd.tile_grid(H, W, p, m)
    T, n2 = N * tiles_h * tiles_w, (m + 2) ** 2
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    (fast,), (ref,) = run_both("winograd_input", x, p, m, tiles_h, tiles_w, outputs=[np.empty((n2, T, C), np.float32)])
    assert close(fast, ref)
    dV = rng.standard_normal((n2, T, C)).astype(np.float32)
    (fast,), (ref,) = run_both("winograd_input_adjoint", dV, p, m, tiles_h, tiles_w, outputs=[x])
    assert close(fast, ref)
    M = rng.standard_normal((n2, T, F)).astype(np.float32)
    bias = rng.standard_normal(F).astype(np.float32)
    y = np.empty((N, F, Ho, Wo), np.float32)
    scale = rng.uniform(0.5, 2, F).astype(np.float32)
    assert_relu_optional("winograd_output", lambda relu: (M, scale, bias, relu, m, tiles_h, tiles_w), y)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    (fast,), (ref,) = run_both("winograd_output_adjoint", dy, m, tiles_h, tiles_w, outputs=[M])
    assert close(fast, ref)


@pytest.mark.parametrize("m", [2, 3, 4])
def test_winograd_transforms_are_adjoint_pairs(m):
    """<T(a), b> = <a, T*(b)> for each transform and the adjoint backward uses."""
    rng = np.random.default_rng(6)
    N, C, F, H, W, p = 2, 3, 4, 5, 7, 1
    Ho, Wo, th, tw = winograd.tile_grid(H, W, p, m)
    n2, T = (m + 2) ** 2, N * th * tw
    x, dV = rng.standard_normal((N, C, H, W)), rng.standard_normal((n2, T, C))
    V, dx = np.empty_like(dV), np.empty_like(x)
    kernels.winograd_input(x, p, m, th, tw, V)
    kernels.winograd_input_adjoint(dV, p, m, th, tw, dx)
    assert np.isclose((V * dV).sum(), (x * dx).sum())
    M, dy = rng.standard_normal((n2, T, F)), rng.standard_normal((N, F, Ho, Wo))
    y, dM = np.empty_like(dy), np.empty_like(M)
    kernels.winograd_output(M, np.ones(F), np.zeros(F), False, m, th, tw, y)
    kernels.winograd_output_adjoint(dy, m, th, tw, dM)
    assert np.isclose((y * dy).sum(), (M * dM).sum())
    w, dU = rng.standard_normal((F, C, 3, 3)), rng.standard_normal((n2, F, C))
    U = winograd.transform_filters(w.transpose(1, 0, 2, 3), m)
    assert np.isclose((U * dU).sum(), (w * winograd.filter_gradient(dU)).sum())


@pytest.mark.parametrize("m", [2, 3, 4])
@pytest.mark.parametrize("A,B", [(1, 1), (3, 5), (17, 40)])
def test_winograd_filter_kernels(m, A, B):
    """The filters' transform for both channel orders (w, and w with its axes swapped) and its adjoint, over a
    slice of the channels [lo, hi) as the chunks call them: the rest of the output is left as it was."""
    rng = np.random.default_rng(7)
    G = winograd.MATRICES[m][1].astype(np.float32)
    w = rng.standard_normal((A, B, 3, 3)).astype(np.float32)
    for filters in (w, w.transpose(1, 0, 2, 3)):
        a, b = filters.shape[:2]
        for lo, hi in ((0, b), (b // 3, b - b // 3)):
            U = np.empty(((m + 2) ** 2, b, a), np.float32)
            (fast,), (ref,) = run_both("winograd_filters", filters, G, lo, hi, outputs=[U])
            assert close(fast, ref)
    dU = rng.standard_normal(((m + 2) ** 2, A, B)).astype(np.float32)
    (fast,), (ref,) = run_both("winograd_filter_gradient", dU, G, A // 3, A - A // 3, outputs=[w])
    assert close(fast, ref)
