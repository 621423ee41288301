"""Numba-compiled kernels for the hot loops of minicnn.

Every kernel here has a plain-NumPy twin of the same name in ``minicnn.reference``;
the tests check that the two agree.  Kernels write into caller-provided output
arrays so layers can reuse buffers, and they never change dtypes (float32 stays
float32).  Each kernel is a plain serial loop over the slice of the batch (or of the
channels) it is given, compiled ``nogil`` so that minicnn.parallel can run several
slices at once on different cores.  Layout conventions:

* images are NCHW;
* ``cols`` is the im2col tensor, shape (C*KH*KW, N, Ho*Wo): one row per input
  tap (c, i, j), and along it every output pixel (n, oh, ow) of the slice, so a
  convolution of the slice is one matrix product ``W.reshape(F, -1) @ cols``,
  and the inner loops of the gathers walk contiguous memory.
"""
import numpy as np
from numba import njit

kernel = njit(cache=True, nogil=True)
# Index with u(i) where i is known to be >= 0: Numba otherwise adds a negative-index
# check to every access, which keeps LLVM from vectorising the loop (3-4x slower gathers).
u = np.uintp
# Sums may be reassociated (vectorised with several accumulators) and multiply-adds fused: the
# order is still fixed, so results repeat bit for bit, and no other fast-math assumption is made.
reduction_kernel = njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})


@kernel
def _relu_if(relu, v):
    """max(v, 0) when relu (a ReLU fused into the kernel that writes v), else v."""
    return max(v, 0) if relu else v


@kernel
def _pad_into(plane, pad, Wp, out):
    """out (a flat plane Wp wide) ← plane (H, W) placed at row pad, column pad; the border is left as it is."""
    H, W = plane.shape
    for h in range(H):
        for w in range(W):
            out[u((h + pad) * Wp + pad + w)] = plane[h, w]


@kernel
def _crop_from(flat, pad, Wp, plane):
    """plane (H, W) ← the inside of a flat padded plane Wp wide: the adjoint of _pad_into."""
    H, W = plane.shape
    for h in range(H):
        for w in range(W):
            plane[h, w] = flat[u((h + pad) * Wp + pad + w)]


@kernel
def im2col(x, kh, kw, stride, pad, cols):
    """x (N, C, H, W) -> cols (C*kh*kw, N, Ho*Wo); taps outside the image are 0.

    Each (image, channel) plane is first copied into a zero-padded scratch plane, so
    the gather for every tap is a branch-free copy (a contiguous one for stride 1)."""
    N, C, H, W = x.shape
    Ho = (H + 2 * pad - kh) // stride + 1
    Wo = (W + 2 * pad - kw) // stride + 1
    Wp = W + 2 * pad
    padded = np.zeros((H + 2 * pad) * Wp, x.dtype)
    out = cols.reshape(-1)
    for n in range(N):
        for c in range(C):
            _pad_into(x[n, c], pad, Wp, padded)
            for i in range(kh):
                for j in range(kw):
                    row = (((c * kh + i) * kw + j) * N + n) * Ho * Wo
                    for oh in range(Ho):
                        src, dst = (oh * stride + i) * Wp + j, row + oh * Wo
                        if stride == 1:
                            for ow in range(Wo):
                                out[u(dst + ow)] = padded[u(src + ow)]
                        else:
                            for ow in range(Wo):
                                out[u(dst + ow)] = padded[u(src + ow * stride)]


@kernel
def col2im(dcols, kh, kw, stride, pad, dx):
    """Adjoint of im2col: scatter-add dcols (C*kh*kw, N, Ho*Wo) into dx (N, C, H, W)."""
    N, C, H, W = dx.shape
    Ho = (H + 2 * pad - kh) // stride + 1
    Wo = (W + 2 * pad - kw) // stride + 1
    Wp = W + 2 * pad
    padded = np.empty((H + 2 * pad) * Wp, dx.dtype)
    inp = dcols.reshape(-1)
    for n in range(N):
        for c in range(C):
            padded[:] = 0
            for i in range(kh):
                for j in range(kw):
                    row = (((c * kh + i) * kw + j) * N + n) * Ho * Wo
                    for oh in range(Ho):
                        dst, src = (oh * stride + i) * Wp + j, row + oh * Wo
                        if stride == 1:
                            for ow in range(Wo):
                                padded[u(dst + ow)] += inp[u(src + ow)]
                        else:
                            for ow in range(Wo):
                                padded[u(dst + ow * stride)] += inp[u(src + ow)]
            _crop_from(padded, pad, Wp, dx[n, c])


# The direct kernels work on the padded width Wp: output pixel q = oh·Wp + ow reads input
# q + i·Wp + j for tap (i, j), so every tap is one long contiguous multiply-add over the whole
# plane (columns ow ≥ Wo are computed too and dropped).  One spare row keeps the last tap inside.

@kernel
def _pad_planes(x, pad, planes):
    """planes (C, (Hp + 1)·Wp) ← x (C, H, W) zero-padded, spare row zero."""
    C, H, W = x.shape
    Wp = W + 2 * pad
    planes[...] = 0
    for c in range(C):
        _pad_into(x[c], pad, Wp, planes[c])


@kernel
def _widen(plane, Wp, out):
    """out (Ho·Wp) ← plane (Ho, Wo) laid on the padded width; the extra columns are left as they are (0)."""
    Ho, Wo = plane.shape
    flat = plane.reshape(-1)
    for oh in range(Ho):
        for ow in range(Wo):
            out[u(oh * Wp + ow)] = flat[u(oh * Wo + ow)]


@reduction_kernel
def conv_direct_forward(x, w, scale, bias, pad, relu, y):
    """y = conv(x, w)·scale + bias per output channel (then max(·, 0) if relu), stride 1, computed directly from
    the forward equation.  For few input channels, where im2col's matrix product would be too thin to be fast."""
    N, C, H, W = x.shape
    F, _, k, _ = w.shape
    Ho, Wo = y.shape[2], y.shape[3]
    Wp = W + 2 * pad
    planes = np.empty((C, (H + 2 * pad + 1) * Wp), x.dtype)
    acc = np.empty(Ho * Wp, x.dtype)
    for n in range(N):
        _pad_planes(x[n], pad, planes)
        for f in range(F):
            acc[:] = 0
            for c in range(C):
                plane = planes[c]
                for i in range(k):
                    for j in range(k):
                        wv, src = w[f, c, i, j], plane[i * Wp + j:i * Wp + j + Ho * Wp]
                        for q in range(Ho * Wp):
                            acc[q] += wv * src[q]
            out, sf, bf = y[n, f].reshape(-1), scale[f], bias[f]
            for oh in range(Ho):
                for ow in range(Wo):
                    v = acc[u(oh * Wp + ow)] * sf + bf
                    out[u(oh * Wo + ow)] = _relu_if(relu, v)


@reduction_kernel
def conv_direct_filter_grad(x, dy, pad, dw):
    """dw[f, c, i, j] = Σ_{n, oh, ow} dy[n, f, oh, ow] · xp[n, c, oh + i, ow + j] (stride 1); dw is overwritten."""
    N, C, H, W = x.shape
    F, _, k, _ = dw.shape
    Ho = dy.shape[2]
    Wp = W + 2 * pad
    planes = np.empty((C, (H + 2 * pad + 1) * Wp), x.dtype)
    g = np.zeros(Ho * Wp, dy.dtype)             # dy[n, f] on the padded width, 0 in the dropped columns
    dw[...] = 0
    for n in range(N):
        _pad_planes(x[n], pad, planes)
        for f in range(F):
            _widen(dy[n, f], Wp, g)
            for c in range(C):
                plane = planes[c]
                for i in range(k):
                    for j in range(k):
                        src = plane[i * Wp + j:i * Wp + j + Ho * Wp]
                        total = dw[f, c, i, j] * 0
                        for q in range(Ho * Wp):
                            total += g[q] * src[q]
                        dw[f, c, i, j] += total


@reduction_kernel
def conv_direct_input_grad(dy, w, pad, dx):
    """dx of conv_direct_forward: every output's gradient, weighted, added back to the inputs it read."""
    N, C, H, W = dx.shape
    F, _, k, _ = w.shape
    Ho = dy.shape[2]
    Wp = W + 2 * pad
    planes = np.empty((C, (H + 2 * pad + 1) * Wp), dx.dtype)
    g = np.zeros(Ho * Wp, dy.dtype)
    for n in range(N):
        planes[...] = 0
        for f in range(F):
            _widen(dy[n, f], Wp, g)
            for c in range(C):
                plane = planes[c]
                for i in range(k):
                    for j in range(k):
                        wv, dst = w[f, c, i, j], plane[i * Wp + j:i * Wp + j + Ho * Wp]
                        for q in range(Ho * Wp):
                            dst[q] += wv * g[q]
        for c in range(C):
            _crop_from(planes[c], pad, Wp, dx[n, c])


@kernel
def rows_to_nchw(rows, scale, bias, relu, y):
    """rows (C, N, P) -> y (N, C, P) = rows·scale + bias per channel (C,) (then max(·, 0) if relu): the GEMM
    output in NCHW."""
    N, C, P = y.shape
    for n in range(N):
        for c in range(C):
            s, b = scale[c], bias[c]
            src = rows[c, n]
            dst = y[n, c]
            for p in range(P):
                v = src[p] * s + b
                dst[p] = _relu_if(relu, v)


@kernel
def nchw_to_rows(dy, rows):
    """dy (N, C, P) -> rows (C, N, P): the transpose that rows_to_nchw undoes (without the bias)."""
    N, C, P = dy.shape
    for n in range(N):
        for c in range(C):
            src = dy[n, c]
            dst = rows[c, n]
            for p in range(P):
                dst[p] = src[p]


@kernel
def relu_forward(x, y):
    """y = max(x, 0) element-wise (flat, contiguous arrays)."""
    for i in range(x.size):
        v = x[i]
        y[i] = v if v > 0 else 0


@kernel
def relu_backward(dy, y, dx):
    """dx = dy where the ReLU output y was positive, else 0 (flat, contiguous arrays)."""
    for i in range(dy.size):
        dx[i] = dy[i] if y[i] > 0 else 0


@kernel
def maxpool_forward(x, k, stride, y, argmax):
    """y[n,c,oh,ow] = max of the k*k window; argmax keeps the winner's place i*k + j in its window."""
    N, C, H, W = x.shape
    Ho, Wo = y.shape[2], y.shape[3]
    src, dst, won = x.reshape(-1), y.reshape(-1), argmax.reshape(-1)
    if k == 2 and stride == 2:          # the usual case, unrolled: 3x faster
        for plane in range(N * C):
            for oh in range(Ho):
                top, out = (plane * H + 2 * oh) * W, (plane * Ho + oh) * Wo
                upper, lower = src[top:top + W], src[top + W:top + 2 * W]
                best_of, place_of = dst[out:out + Wo], won[out:out + Wo]
                for ow in range(Wo):
                    best, at = upper[2 * ow], 0
                    if upper[2 * ow + 1] > best:
                        best, at = upper[2 * ow + 1], 1
                    if lower[2 * ow] > best:
                        best, at = lower[2 * ow], 2
                    if lower[2 * ow + 1] > best:
                        best, at = lower[2 * ow + 1], 3
                    best_of[ow], place_of[ow] = best, at
        return
    for plane in range(N * C):
        for oh in range(Ho):
            for ow in range(Wo):
                corner = (plane * H + oh * stride) * W + ow * stride
                best, best_at = src[u(corner)], 0
                for i in range(k):
                    for j in range(k):
                        v = src[u(corner + i * W + j)]
                        if v > best:
                            best, best_at = v, i * k + j
                out = (plane * Ho + oh) * Wo + ow
                dst[u(out)] = best
                won[u(out)] = best_at


@kernel
def maxpool_backward(dy, argmax, k, stride, dx):
    """Route each dy to the input position that won the max (dx is overwritten)."""
    N, C, H, W = dx.shape
    Ho, Wo = dy.shape[2], dy.shape[3]
    grad, won, out = dy.reshape(-1), argmax.reshape(-1), dx.reshape(-1)
    if k == 2 and stride == 2 and H == 2 * Ho and W == 2 * Wo:     # windows tile dx: write it in one pass
        for plane in range(N * C):
            for oh in range(Ho):
                at, top = (plane * Ho + oh) * Wo, (plane * H + 2 * oh) * W
                g, place = grad[at:at + Wo], won[at:at + Wo]
                rows = out[top:top + 2 * W]
                rows[:] = 0
                for ow in range(Wo):
                    rows[(place[ow] >> 1) * W + 2 * ow + (place[ow] & 1)] = g[ow]
        return
    out[:] = 0
    for plane in range(N * C):
        for oh in range(Ho):
            for ow in range(Wo):
                at = (plane * Ho + oh) * Wo + ow
                i, j = divmod(won[u(at)], k)
                out[u((plane * H + oh * stride + i) * W + ow * stride + j)] += grad[u(at)]


@kernel
def avgpool_forward(x, k, stride, y):
    """y[n,c,oh,ow] = mean of the k*k window."""
    N, C, H, W = x.shape
    Ho, Wo = y.shape[2], y.shape[3]
    scale = 1.0 / (k * k)
    for n in range(N):
        for c in range(C):
            for oh in range(Ho):
                for ow in range(Wo):
                    s = x[n, c, oh * stride, ow * stride] * 0
                    for i in range(k):
                        for j in range(k):
                            s += x[n, c, oh * stride + i, ow * stride + j]
                    y[n, c, oh, ow] = s * scale


@kernel
def avgpool_backward(dy, k, stride, dx):
    """Spread each dy evenly over its k*k window (dx is overwritten)."""
    N, C, H, W = dx.shape
    Ho, Wo = dy.shape[2], dy.shape[3]
    scale = 1.0 / (k * k)
    for n in range(N):
        for c in range(C):
            dx[n, c] = 0
            for oh in range(Ho):
                for ow in range(Wo):
                    g = dy[n, c, oh, ow] * scale
                    for i in range(k):
                        for j in range(k):
                            dx[n, c, oh * stride + i, ow * stride + j] += g


@reduction_kernel
def batchnorm_stats(x, first, mean, var):
    """Per-channel mean and biased variance of x (N, C, P) in one pass, accumulated in float64, for the
    channels first, first + 1, … (as many as mean holds).

    x is the whole contiguous array, not a slice of its channels: Numba compiles a slice across the
    middle axis for any strides, and that loop does not vectorise (4-8x slower)."""
    N, _, P = x.shape
    m = N * P
    for k in range(mean.size):
        c = first + k
        s = 0.0
        ss = 0.0
        for n in range(N):
            row = x[n, c]
            for p in range(P):
                v = np.float64(row[p])
                s += v
                ss += v * v
        mu = s / m
        mean[k] = mu
        var[k] = max(ss / m - mu * mu, 0.0)


@kernel
def batchnorm_normalize(x, scale, shift, relu, y):
    """y = x * scale + shift per channel of x (N, C, P): γ·(x − μ)/σ + β folded into one multiply-add
    (then max(·, 0) if relu)."""
    N, C, P = x.shape
    for n in range(N):
        for c in range(C):
            a, b = scale[c], shift[c]
            src, dst = x[n, c], y[n, c]
            for p in range(P):
                dst[p] = _relu_if(relu, _affine_value(src[p], a, b))


@kernel
def _affine_value(x, scale, shift):
    """x·scale + shift rounded as batchnorm_normalize rounds it (a kernel without contraction into a fused
    multiply-add): a backward pass that recomputes it finds exactly the forward's sign."""
    return x * scale + shift


@reduction_kernel
def batchnorm_backward(dy, x, first, mean, inv_std, scale, shift, training, relu, dx, dgamma, dbeta):
    """BatchNorm gradients for dy (N, C, P), x̂ recomputed from x; see minicnn/layers/batchnorm.py.

    For the channels first, first + 1, … (as many as mean holds) of the whole arrays dy, x, dx (see
    batchnorm_stats); mean, inv_std and the forward's scale (γ/σ) and shift hold those channels only.
    With relu, dy is the gradient of max(y, 0): it counts only where y = x·scale + shift > 0."""
    N, _, P = dy.shape
    m = N * P
    for k in range(mean.size):
        c = first + k
        mu, s, a, b = mean[k], inv_std[k], scale[k], shift[k]
        sum_dy = 0.0
        sum_dy_xhat = 0.0
        for n in range(N):
            g, row = dy[n, c], x[n, c]
            for p in range(P):
                gp = g[p] if not relu or _affine_value(row[p], a, b) > 0 else 0
                sum_dy += gp
                sum_dy_xhat += gp * ((row[p] - mu) * s)
        dgamma[k] = sum_dy_xhat
        dbeta[k] = sum_dy
        mean_dy = sum_dy / m if training else 0.0
        slope = sum_dy_xhat / m if training else 0.0
        for n in range(N):
            g, row, out = dy[n, c], x[n, c], dx[n, c]
            for p in range(P):
                gp = g[p] if not relu or _affine_value(row[p], a, b) > 0 else 0
                out[p] = a * (gp - mean_dy - (row[p] - mu) * s * slope)


# Winograd transforms (minicnn/winograd.py has the math), for output tiles of m×m = 2×2 (input tiles 4×4) and
# 4×4 (input tiles 6×6).  The matrices are applied as the few additions and small multiples they hold,
# unrolled: first down the columns of a whole row of tiles at once, then along each row, tile by tile.  The
# constants are float32 so that float32 data stays float32 (a float64 model computes in float64).
_2, _4, _5, _8 = np.float32(2), np.float32(4), np.float32(5), np.float32(8)


@kernel
def _bt4(d0, d1, d2, d3):
    """Bᵀ d for F(2×2, 3×3)."""
    return d0 - d2, d1 + d2, d2 - d1, d1 - d3


@kernel
def _b4(v0, v1, v2, v3):
    """B v: the adjoint of _bt4."""
    return v0, v1 - v2 + v3, v1 + v2 - v0, -v3


@kernel
def _at4(m0, m1, m2, m3):
    """Aᵀ m for F(2×2, 3×3)."""
    return m0 + m1 + m2, m1 - m2 - m3


@kernel
def _a4(g0, g1):
    """A g: the adjoint of _at4."""
    return g0, g0 + g1, g0 - g1, -g1


@kernel
def _bt6(d0, d1, d2, d3, d4, d5):
    """Bᵀ d for F(4×4, 3×3) (interpolation points 0, ±1, ±2 and ∞)."""
    return (_4 * d0 - _5 * d2 + d4, d3 + d4 - _4 * (d1 + d2), d4 - d3 + _4 * (d1 - d2),
            d4 - d2 + _2 * (d3 - d1), d4 - d2 + _2 * (d1 - d3), _4 * d1 - _5 * d3 + d5)


@kernel
def _b6(v0, v1, v2, v3, v4, v5):
    """B v: the adjoint of _bt6."""
    return (_4 * v0, _4 * (v2 + v5 - v1) + _2 * (v4 - v3), -_5 * v0 - _4 * (v1 + v2) - v3 - v4,
            v1 - v2 + _2 * (v3 - v4) - _5 * v5, v0 + v1 + v2 + v3 + v4, v5)


@kernel
def _at6(m0, m1, m2, m3, m4, m5):
    """Aᵀ m for F(4×4, 3×3)."""
    a, b, c, d = m1 + m2, m1 - m2, m3 + m4, m3 - m4
    return m0 + a + c, b + _2 * d, a + _4 * c, b + _8 * d + m5


@kernel
def _a6(g0, g1, g2, g3):
    """A g: the adjoint of _at6."""
    a, b, c, d = g0 + g2, g1 + g3, _4 * g2, _2 * g1 + _8 * g3
    return g0, a + b, a - b, g0 + c + d, g0 + c - d, g3


@kernel
def _input_down(m, src, top, Wp, rows):
    """rows[:, q] = Bᵀ (the m + 2 values of column q of the flat plane src, Wp wide, from row ``top`` on)."""
    if m == 2:
        for q in range(Wp):
            rows[0, q], rows[1, q], rows[2, q], rows[3, q] = _bt4(
                src[u(top + q)], src[u(top + Wp + q)], src[u(top + 2 * Wp + q)], src[u(top + 3 * Wp + q)])
    else:
        for q in range(Wp):
            rows[0, q], rows[1, q], rows[2, q], rows[3, q], rows[4, q], rows[5, q] = _bt6(
                src[u(top + q)], src[u(top + Wp + q)], src[u(top + 2 * Wp + q)], src[u(top + 3 * Wp + q)],
                src[u(top + 4 * Wp + q)], src[u(top + 5 * Wp + q)])


@kernel
def _input_along(m, row, tiles_w, out, base, stride):
    """out[base + j·stride + tx] = (Bᵀ e)_j for the m + 2 values e of ``row`` under tile tx."""
    if m == 2:
        for tx in range(tiles_w):
            k = 2 * tx
            v0, v1, v2, v3 = _bt4(row[u(k)], row[u(k + 1)], row[u(k + 2)], row[u(k + 3)])
            out[u(base + tx)], out[u(base + stride + tx)] = v0, v1
            out[u(base + 2 * stride + tx)], out[u(base + 3 * stride + tx)] = v2, v3
    else:
        for tx in range(tiles_w):
            k = 4 * tx
            v0, v1, v2, v3, v4, v5 = _bt6(row[u(k)], row[u(k + 1)], row[u(k + 2)], row[u(k + 3)], row[u(k + 4)],
                                          row[u(k + 5)])
            out[u(base + tx)], out[u(base + stride + tx)], out[u(base + 2 * stride + tx)] = v0, v1, v2
            out[u(base + 3 * stride + tx)], out[u(base + 4 * stride + tx)], out[u(base + 5 * stride + tx)] = v3, v4, v5


@kernel
def winograd_input(x, pad, m, tiles_h, tiles_w, V):
    """V[:, c, t] = Bᵀ d B for the (m+2)×(m+2) tile d of channel c at tile t (stride m), x (N, C, H, W) zero-padded.

    V has shape ((m+2)², C, N·tiles_h·tiles_w), tiles numbered (n, ty, tx) in row-major order."""
    N, C, H, W = x.shape
    n = m + 2
    Wp = m * tiles_w + 2
    T = V.shape[2]
    padded = np.zeros((m * tiles_h + 2) * Wp, x.dtype)
    rows = np.empty((n, Wp), x.dtype)            # Bᵀ d for one row of tiles, all columns at once
    out = V.reshape(-1)
    for img in range(N):
        for c in range(C):
            _pad_into(x[img, c], pad, Wp, padded)
            for ty in range(tiles_h):
                _input_down(m, padded, m * ty * Wp, Wp, rows)
                t0 = (img * tiles_h + ty) * tiles_w
                for i in range(n):                   # (Bᵀ d) B: the same combinations along each row
                    _input_along(m, rows[i], tiles_w, out, (n * i * C + c) * T + t0, C * T)


@kernel
def _input_adjoint_along(m, inp, base, stride, tiles_w, row):
    """row[m·tx + k] += (B v)_k for the m + 2 values v = inp[base + j·stride + tx] of tile tx (tiles overlap)."""
    if m == 2:
        for tx in range(tiles_w):
            k = 2 * tx
            e0, e1, e2, e3 = _b4(inp[u(base + tx)], inp[u(base + stride + tx)], inp[u(base + 2 * stride + tx)],
                                 inp[u(base + 3 * stride + tx)])
            row[u(k)] += e0
            row[u(k + 1)] += e1
            row[u(k + 2)] += e2
            row[u(k + 3)] += e3
    else:
        for tx in range(tiles_w):
            k = 4 * tx
            e0, e1, e2, e3, e4, e5 = _b6(inp[u(base + tx)], inp[u(base + stride + tx)],
                                         inp[u(base + 2 * stride + tx)], inp[u(base + 3 * stride + tx)],
                                         inp[u(base + 4 * stride + tx)], inp[u(base + 5 * stride + tx)])
            row[u(k)] += e0
            row[u(k + 1)] += e1
            row[u(k + 2)] += e2
            row[u(k + 3)] += e3
            row[u(k + 4)] += e4
            row[u(k + 5)] += e5


@kernel
def _input_adjoint_down(m, rows, dst, top, Wp):
    """dst[top + k·Wp + q] += (B rows[:, q])_k: the adjoint of _input_down."""
    if m == 2:
        for q in range(Wp):
            e0, e1, e2, e3 = _b4(rows[0, q], rows[1, q], rows[2, q], rows[3, q])
            dst[u(top + q)] += e0
            dst[u(top + Wp + q)] += e1
            dst[u(top + 2 * Wp + q)] += e2
            dst[u(top + 3 * Wp + q)] += e3
    else:
        for q in range(Wp):
            e0, e1, e2, e3, e4, e5 = _b6(rows[0, q], rows[1, q], rows[2, q], rows[3, q], rows[4, q], rows[5, q])
            dst[u(top + q)] += e0
            dst[u(top + Wp + q)] += e1
            dst[u(top + 2 * Wp + q)] += e2
            dst[u(top + 3 * Wp + q)] += e3
            dst[u(top + 4 * Wp + q)] += e4
            dst[u(top + 5 * Wp + q)] += e5


@kernel
def winograd_input_adjoint(dV, pad, m, tiles_h, tiles_w, dx):
    """Adjoint of winograd_input: scatter-add B dV Bᵀ of every tile into dx (N, C, H, W)."""
    N, C, H, W = dx.shape
    n = m + 2
    Wp = m * tiles_w + 2
    T = dV.shape[2]
    padded = np.empty((m * tiles_h + 2) * Wp, dx.dtype)
    rows = np.empty((n, Wp), dx.dtype)           # dV B for one row of tiles
    inp = dV.reshape(-1)
    for img in range(N):
        for c in range(C):
            padded[:] = 0
            for ty in range(tiles_h):
                rows[...] = 0
                t0 = (img * tiles_h + ty) * tiles_w
                for i in range(n):
                    _input_adjoint_along(m, inp, (n * i * C + c) * T + t0, C * T, tiles_w, rows[i])
                _input_adjoint_down(m, rows, padded, m * ty * Wp, Wp)
            _crop_from(padded, pad, Wp, dx[img, c])


@kernel
def _output_across(m, M, i, f, s):
    """s[c, t] = (Aᵀ v)_c for the n values v = M[n·i + j, f, t] (j < n) of row i of every tile t: M A, row i."""
    n = m + 2
    if m == 2:
        v0, v1, v2, v3 = M[n * i, f], M[n * i + 1, f], M[n * i + 2, f], M[n * i + 3, f]
        for t in range(s.shape[1]):
            s[0, u(t)], s[1, u(t)] = _at4(v0[u(t)], v1[u(t)], v2[u(t)], v3[u(t)])
    else:
        v0, v1, v2, v3, v4, v5 = (M[n * i, f], M[n * i + 1, f], M[n * i + 2, f], M[n * i + 3, f], M[n * i + 4, f],
                                  M[n * i + 5, f])
        for t in range(s.shape[1]):
            s[0, u(t)], s[1, u(t)], s[2, u(t)], s[3, u(t)] = _at6(v0[u(t)], v1[u(t)], v2[u(t)], v3[u(t)], v4[u(t)],
                                                                  v5[u(t)])


@kernel
def _output_down(m, s, c, o):
    """o[r, c, t] = (Aᵀ s[:, c, t])_r for every tile t: Aᵀ (M A), column c."""
    if m == 2:
        for t in range(s.shape[2]):
            o[0, c, u(t)], o[1, c, u(t)] = _at4(s[0, c, u(t)], s[1, c, u(t)], s[2, c, u(t)], s[3, c, u(t)])
    else:
        for t in range(s.shape[2]):
            o[0, c, u(t)], o[1, c, u(t)], o[2, c, u(t)], o[3, c, u(t)] = _at6(
                s[0, c, u(t)], s[1, c, u(t)], s[2, c, u(t)], s[3, c, u(t)], s[4, c, u(t)], s[5, c, u(t)])


@kernel
def winograd_output(M, scale, bias, relu, m, tiles_h, tiles_w, y):
    """y[n, f] = (Aᵀ M[:, f, t] A)·scale[f] + bias[f] (then max(·, 0) if relu) for the (m+2)×(m+2) tile of every
    tile t, cut to y (N, F, Ho, Wo).

    One filter at a time, every tile of the chunk at once: both steps of the transform are loops along the
    tiles, whose values lie side by side in M (LLVM vectorises them), and only then are each tile's m×m outputs
    written to their places in y (vgg's chunks: 1.6-2.3× faster than transforming tile by tile)."""
    N, F, Ho, Wo = y.shape
    n = m + 2
    T = M.shape[2]
    s = np.empty((n, m, T), y.dtype)             # M A: row i of each tile times A
    o = np.empty((m, m, T), y.dtype)             # Aᵀ M A: each tile's m×m outputs
    for f in range(F):
        for i in range(n):
            _output_across(m, M, i, f, s[i])
        for c in range(m):
            _output_down(m, s, c, o)
        sf, b = scale[f], bias[f]
        t = 0
        for img in range(N):
            plane = y[img, f]
            for ty in range(tiles_h):
                for tx in range(tiles_w):
                    oh, ow = m * ty, m * tx
                    for r in range(min(m, Ho - oh)):            # the part inside y: a tile may hang over its edge
                        for c in range(min(m, Wo - ow)):
                            plane[u(oh + r), u(ow + c)] = _relu_if(relu, o[r, c, u(t)] * sf + b)
                    t += 1


@kernel
def _output_adjoint_down(m, g, c, e):
    """e[:, c, t] = A g[:, c, t] for every tile t: the adjoint of Aᵀ applied down column c."""
    if m == 2:
        for t in range(g.shape[2]):
            e[0, c, u(t)], e[1, c, u(t)], e[2, c, u(t)], e[3, c, u(t)] = _a4(g[0, c, u(t)], g[1, c, u(t)])
    else:
        for t in range(g.shape[2]):
            e[0, c, u(t)], e[1, c, u(t)], e[2, c, u(t)], e[3, c, u(t)], e[4, c, u(t)], e[5, c, u(t)] = _a6(
                g[0, c, u(t)], g[1, c, u(t)], g[2, c, u(t)], g[3, c, u(t)])


@kernel
def _output_adjoint_across(m, e, i, f, dM):
    """dM[n·i + j, f, t] = (A e[i, :, t])_j for every tile t: (A g) Aᵀ, row i."""
    n = m + 2
    if m == 2:
        v0, v1, v2, v3 = dM[n * i, f], dM[n * i + 1, f], dM[n * i + 2, f], dM[n * i + 3, f]
        for t in range(e.shape[2]):
            v0[u(t)], v1[u(t)], v2[u(t)], v3[u(t)] = _a4(e[i, 0, u(t)], e[i, 1, u(t)])
    else:
        v0, v1, v2, v3, v4, v5 = (dM[n * i, f], dM[n * i + 1, f], dM[n * i + 2, f], dM[n * i + 3, f],
                                  dM[n * i + 4, f], dM[n * i + 5, f])
        for t in range(e.shape[2]):
            v0[u(t)], v1[u(t)], v2[u(t)], v3[u(t)], v4[u(t)], v5[u(t)] = _a6(e[i, 0, u(t)], e[i, 1, u(t)],
                                                                             e[i, 2, u(t)], e[i, 3, u(t)])


@kernel
def winograd_output_adjoint(dy, m, tiles_h, tiles_w, dM):
    """Adjoint of winograd_output (without the bias): dM[:, f, t] = A g Aᵀ for the m×m tile g of dy (N, F, Ho, Wo).

    As winograd_output, one filter at a time over every tile of the chunk: the tiles of dy[:, f] are gathered
    side by side first (0 past the edge), then both steps run along them."""
    N, F, Ho, Wo = dy.shape
    n = m + 2
    T = dM.shape[2]
    g = np.empty((m, m, T), dy.dtype)            # each tile of dy[:, f]
    e = np.empty((n, m, T), dy.dtype)            # A g
    for f in range(F):
        t = 0
        for img in range(N):
            plane = dy[img, f]
            for ty in range(tiles_h):
                for tx in range(tiles_w):
                    oh, ow = m * ty, m * tx
                    if oh + m <= Ho and ow + m <= Wo:
                        for r in range(m):
                            for c in range(m):
                                g[r, c, u(t)] = plane[u(oh + r), u(ow + c)]
                    else:                               # a tile over the edge
                        for r in range(m):
                            for c in range(m):
                                inside = oh + r < Ho and ow + c < Wo
                                g[r, c, u(t)] = plane[u(oh + r), u(ow + c)] if inside else 0
                    t += 1
        for c in range(m):
            _output_adjoint_down(m, g, c, e)
        for i in range(n):
            _output_adjoint_across(m, e, i, f, dM)
