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
def _conv3x3_direct(planes, w, scale, bias, Wp, relu, y):
    """conv_direct_forward of one image for 3×3 filters: each output row the sum of its nine taps in one pass
    (nine loads and one store a pixel, where a pass per tap loads and stores the row nine times), the affine and
    the ReLU applied as the last channel's sum is written."""
    F, C = w.shape[0], w.shape[1]
    Ho, Wo = y.shape[1], y.shape[2]
    for f in range(F):
        sf, bf = scale[f], bias[f]
        for oh in range(Ho):
            out = y[f, oh]
            for c in range(C):
                first, last = c == 0, c == C - 1
                g = w[f, c]
                w0, w1, w2, w3, w4, w5, w6, w7, w8 = (g[0, 0], g[0, 1], g[0, 2], g[1, 0], g[1, 1], g[1, 2],
                                                      g[2, 0], g[2, 1], g[2, 2])
                r0 = planes[c, oh * Wp:oh * Wp + Wo + 2]
                r1 = planes[c, (oh + 1) * Wp:(oh + 1) * Wp + Wo + 2]
                r2 = planes[c, (oh + 2) * Wp:(oh + 2) * Wp + Wo + 2]
                for ow in range(Wo):
                    q = u(ow)
                    v = (w0 * r0[q] + w1 * r0[q + 1] + w2 * r0[q + 2] + w3 * r1[q] + w4 * r1[q + 1] + w5 * r1[q + 2]
                         + w6 * r2[q] + w7 * r2[q + 1] + w8 * r2[q + 2])
                    if not first:
                        v += out[q]
                    out[q] = _relu_if(relu, v * sf + bf) if last else v


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
        if k == 3:
            _conv3x3_direct(planes, w, scale, bias, Wp, relu, y[n])
            continue
        for f in range(F):
            acc[:] = 0
            for c in range(C):
                plane = planes[c]
                for i in range(k):
                    for j in range(k):
                        wv, src = w[f, c, i, j], plane[i * Wp + j:i * Wp + j + Ho * Wp]
                        for q in range(Ho * Wp):
                            acc[u(q)] += wv * src[u(q)]
            out, sf, bf = y[n, f].reshape(-1), scale[f], bias[f]
            for oh in range(Ho):
                for ow in range(Wo):
                    v = acc[u(oh * Wp + ow)] * sf + bf
                    out[u(oh * Wo + ow)] = _relu_if(relu, v)


@reduction_kernel
def conv_direct_filter_grad(x, dy, pad, dw, db):
    """dw[f, c, i, j] = Σ_{n, oh, ow} dy[n, f, oh, ow] · xp[n, c, oh + i, ow + j] (stride 1) and the bias's
    db[f] = Σ_{n, oh, ow} dy[n, f, oh, ow], in the same pass over dy; dw and db are overwritten."""
    N, C, H, W = x.shape
    F, _, k, _ = dw.shape
    Ho = dy.shape[2]
    Wp = W + 2 * pad
    planes = np.empty((C, (H + 2 * pad + 1) * Wp), x.dtype)
    g = np.zeros(Ho * Wp, dy.dtype)             # dy[n, f] on the padded width, 0 in the dropped columns
    L = Ho * Wp
    zero = np.zeros(1, dw.dtype)[0]             # sums in dw's type: a float64 0 would make them float64, unvectorised
    dw[...] = 0
    db[...] = 0
    for n in range(N):
        _pad_planes(x[n], pad, planes)
        for f in range(F):
            _widen(dy[n, f], Wp, g)
            total = zero
            for q in range(L):
                total += g[u(q)]
            db[f] += total
            for c in range(C):
                plane = planes[c]
                if k == 3:                      # the nine sums in one pass over g (3x faster than one at a time)
                    r0, r1, r2 = plane[0:L + 2], plane[Wp:Wp + L + 2], plane[2 * Wp:2 * Wp + L + 2]
                    s00 = s01 = s02 = s10 = s11 = s12 = s20 = s21 = s22 = zero
                    for q in range(L):
                        gq = g[u(q)]
                        s00 += gq * r0[u(q)]
                        s01 += gq * r0[u(q + 1)]
                        s02 += gq * r0[u(q + 2)]
                        s10 += gq * r1[u(q)]
                        s11 += gq * r1[u(q + 1)]
                        s12 += gq * r1[u(q + 2)]
                        s20 += gq * r2[u(q)]
                        s21 += gq * r2[u(q + 1)]
                        s22 += gq * r2[u(q + 2)]
                    d = dw[f, c]
                    d[0, 0] += s00
                    d[0, 1] += s01
                    d[0, 2] += s02
                    d[1, 0] += s10
                    d[1, 1] += s11
                    d[1, 2] += s12
                    d[2, 0] += s20
                    d[2, 1] += s21
                    d[2, 2] += s22
                    continue
                for i in range(k):
                    for j in range(k):
                        src = plane[i * Wp + j:i * Wp + j + L]
                        total = zero
                        for q in range(L):
                            total += g[u(q)] * src[u(q)]
                        dw[f, c, i, j] += total


@reduction_kernel
def conv_direct_input_grad(dy, w, pad, dx):
    """dx of conv_direct_forward: every output's gradient, weighted, added back to the inputs it read."""
    N, C, H, W = dx.shape
    F, _, k, _ = w.shape
    Ho = dy.shape[2]
    Wp = W + 2 * pad
    planes = np.empty((C, (H + 2 * pad + 1) * Wp), dx.dtype)
    L = Ho * Wp
    before = np.zeros(L + 2 * (k - 1), dy.dtype)   # dy[n, f] on the padded width between k − 1 zeros each side
    g = before[k - 1:k - 1 + L]
    for n in range(N):
        planes[...] = 0
        for f in range(F):
            _widen(dy[n, f], Wp, g)
            for c in range(C):
                plane = planes[c]
                for i in range(k):              # row i of the filter: its k taps in one pass over the plane
                    dst = plane[i * Wp:i * Wp + L + k - 1]
                    if k == 3:
                        w0, w1, w2 = w[f, c, i, 0], w[f, c, i, 1], w[f, c, i, 2]
                        for q in range(L + 2):
                            dst[u(q)] += w0 * before[u(q + 2)] + w1 * before[u(q + 1)] + w2 * before[u(q)]
                        continue
                    for j in range(k):
                        wv = w[f, c, i, j]
                        for q in range(L + k - 1):
                            dst[u(q)] += wv * before[u(q + k - 1 - j)]
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


NO_WINNER = 255     # argmax of a max-pool output the ReLU cut to 0: no gradient flows back (k·k ≤ 225)


@kernel
def _cut_if(relu, best, at, zero):
    """(best, at), or (0, NO_WINNER) where relu and best ≤ 0: a ReLU applied to the max."""
    if relu and not best > 0:
        return zero, np.uint8(NO_WINNER)
    return best, np.uint8(at)


@kernel
def maxpool_forward(x, k, stride, relu, y, argmax):
    """y[n,c,oh,ow] = max of the k*k window (then max(·, 0) if relu); argmax keeps the winner's place i*k + j in
    its window, or NO_WINNER where the ReLU cut the output."""
    N, C, H, W = x.shape
    Ho, Wo = y.shape[2], y.shape[3]
    zero = np.zeros(1, y.dtype)[0]
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
                    best_of[ow], place_of[ow] = _cut_if(relu, best, at, zero)
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
                dst[u(out)], won[u(out)] = _cut_if(relu, best, best_at, zero)


@kernel
def maxpool_values(x, k, stride, relu, y):
    """maxpool_forward's y alone, for inference: without the winners to keep, the 2×2 loop vectorises (4.5×
    faster on 48×48 planes)."""
    N, C, H, W = x.shape
    Ho, Wo = y.shape[2], y.shape[3]
    src, dst = x.reshape(-1), y.reshape(-1)
    for plane in range(N * C):
        for oh in range(Ho):
            out = dst[(plane * Ho + oh) * Wo:(plane * Ho + oh + 1) * Wo]
            if k == 2 and stride == 2:
                top = (plane * H + 2 * oh) * W
                upper, lower = src[top:top + W], src[top + W:top + 2 * W]
                for ow in range(Wo):
                    best = max(max(upper[u(2 * ow)], upper[u(2 * ow + 1)]),
                               max(lower[u(2 * ow)], lower[u(2 * ow + 1)]))
                    out[u(ow)] = _relu_if(relu, best)
                continue
            for ow in range(Wo):
                corner = (plane * H + oh * stride) * W + ow * stride
                best = src[u(corner)]
                for i in range(k):
                    for j in range(k):
                        best = max(best, src[u(corner + i * W + j)])
                out[u(ow)] = _relu_if(relu, best)


@kernel
def maxpool_backward(dy, argmax, k, stride, dx):
    """Route each dy to the input position that won the max, none where argmax is NO_WINNER (dx is overwritten)."""
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
                    if place[ow] != NO_WINNER:
                        rows[(place[ow] >> 1) * W + 2 * ow + (place[ow] & 1)] = g[ow]
        return
    out[:] = 0
    for plane in range(N * C):
        for oh in range(Ho):
            for ow in range(Wo):
                at = (plane * Ho + oh) * Wo + ow
                if won[u(at)] != NO_WINNER:
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


@kernel
def batchnorm_relu_maxpool_forward(x, scale, shift, y, argmax):
    """y = maxpool(relu(x·scale + shift)) over 2×2 windows of stride 2, x (N, C, H, W), y (N, C, H//2, W//2):
    BatchNorm's affine, then ReLU, then the pool, in one pass.  An increasing affine (scale > 0) keeps the order
    of a window's entries, so its largest x gives the largest output; a decreasing one (scale < 0) its smallest.
    argmax keeps the winner's place (the first in row-major order, as maxpool_forward), or NO_WINNER where the
    ReLU cut the output."""
    N, C = x.shape[0], x.shape[1]
    Ho, Wo = y.shape[2], y.shape[3]
    zero = np.zeros(1, y.dtype)[0]
    for n in range(N):
        for c in range(C):
            a, b = scale[c], shift[c]
            plane, out, won = x[n, c], y[n, c], argmax[n, c]
            for oh in range(Ho):
                upper, lower = plane[2 * oh], plane[2 * oh + 1]
                for ow in range(Wo):
                    best, at = upper[u(2 * ow)], 0
                    for place, v in ((1, upper[u(2 * ow + 1)]), (2, lower[u(2 * ow)]), (3, lower[u(2 * ow + 1)])):
                        if (a > 0 and v > best) or (a < 0 and v < best):
                            best, at = v, place
                    value = _affine_value(best, a, b)
                    if value > 0:
                        out[oh, ow], won[oh, ow] = value, np.uint8(at)
                    else:
                        out[oh, ow], won[oh, ow] = zero, np.uint8(NO_WINNER)


@reduction_kernel
def batchnorm_relu_maxpool_backward(dy, argmax, x, first, mean, inv_std, scale, training, dx, dgamma, dbeta):
    """batchnorm_backward of the gradient maxpool_backward routes from dy (N, C, H//2, W//2) to each window's
    winner, x (N, C, H, W) and dx whole, the channels first, first + 1, … (see batchnorm_backward): dL/d(the
    BatchNorm's output) is dy at the winners and 0 elsewhere, so its sums run over the winners alone."""
    N, _, H, W = x.shape
    Ho, Wo = dy.shape[2], dy.shape[3]
    m = N * H * W
    for k in range(mean.size):
        c = first + k
        mu, s, a = mean[k], inv_std[k], scale[k]
        sum_dy = 0.0
        sum_dy_xhat = 0.0
        for n in range(N):
            g, won, plane = dy[n, c], argmax[n, c], x[n, c]
            for oh in range(Ho):
                for ow in range(Wo):
                    at = won[oh, ow]
                    if at != NO_WINNER:
                        sum_dy += g[oh, ow]
                        sum_dy_xhat += g[oh, ow] * ((plane[2 * oh + at // 2, 2 * ow + at % 2] - mu) * s)
        dgamma[k] = sum_dy_xhat
        dbeta[k] = sum_dy
        mean_dy = sum_dy / m if training else 0.0
        slope = sum_dy_xhat / m if training else 0.0
        for n in range(N):
            plane, out = x[n, c], dx[n, c]
            for h in range(H):
                row, out_row = plane[h], out[h]
                for w in range(W):
                    out_row[w] = a * (-mean_dy - (row[w] - mu) * s * slope)
            g, won = dy[n, c], argmax[n, c]
            for oh in range(Ho):
                for ow in range(Wo):
                    at = won[oh, ow]
                    if at != NO_WINNER:
                        out[2 * oh + at // 2, 2 * ow + at % 2] += a * g[oh, ow]


# Winograd transforms (minicnn/winograd.py has the math), for output tiles of m×m = 2×2, 3×3 and 4×4 (input
# tiles 4×4, 5×5 and 6×6).  The matrices are applied as the few additions and small multiples they hold, unrolled.
# The tile matrices keep the channels innermost, V (n², T, C) and M (n², T, F), and each image is copied
# channels-last first (y and dx copied back last): then every step is a loop along the channels, which lie side
# by side in memory and which LLVM vectorises at the CPU's full width (docs/winograd.md, "Channels last").
# The constants are float32 so that float32 data stays float32 (a float64 model computes in float64).
_2, _3, _4, _5, _8 = np.float32(2), np.float32(3), np.float32(4), np.float32(5), np.float32(8)


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
def _bt5(d0, d1, d2, d3, d4):
    """Bᵀ d for F(3×3, 3×3) (interpolation points 0, ±1, 2 and ∞)."""
    return (_2 * (d0 - d2) - d1 + d3, _2 * d1 + d2 - d3, _3 * d2 - _2 * d1 - d3, d3 - d1,
            _2 * (d1 - d3) - d2 + d4)


@kernel
def _b5(v0, v1, v2, v3, v4):
    """B v: the adjoint of _bt5."""
    return (_2 * v0, _2 * (v1 - v2 + v4) - v0 - v3, v1 + _3 * v2 - _2 * v0 - v4, v0 - v1 - v2 + v3 - _2 * v4, v4)


@kernel
def _at5(m0, m1, m2, m3, m4):
    """Aᵀ m for F(3×3, 3×3)."""
    return m0 + m1 + m2 + m3, m1 - m2 + _2 * m3, m1 + m2 + _4 * m3 + m4


@kernel
def _a5(g0, g1, g2):
    """A g: the adjoint of _at5."""
    return g0, g0 + g1 + g2, g0 - g1 + g2, g0 + _2 * g1 + _4 * g2, g2


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
def winograd_filters(w, G, lo, hi, U):
    """U[n·r + s, b, a] = (G w[a, b] Gᵀ)[r, s] for lo ≤ b < hi: every 3×3 filter of w (A, B, 3, 3) transformed,
    stored with the two channel axes swapped (winograd.transform_filters passes w, or w with its axes swapped, for
    either order); G is (n, 3).  First G g for all a at once, then (G g) Gᵀ: loops along a, which U holds side by
    side."""
    A, n = w.shape[0], G.shape[0]
    g = np.empty((9, A), U.dtype)              # the filters w[:, b], tap by tap
    t = np.empty((n, 3, A), U.dtype)           # G g
    for b in range(lo, hi):
        for a in range(A):
            for i in range(3):
                for j in range(3):
                    g[3 * i + j, a] = w[a, b, i, j]
        for r in range(n):
            c0, c1, c2 = G[r, 0], G[r, 1], G[r, 2]
            for j in range(3):
                g0, g1, g2, out = g[j], g[3 + j], g[6 + j], t[r, j]
                for a in range(A):
                    out[u(a)] = c0 * g0[u(a)] + c1 * g1[u(a)] + c2 * g2[u(a)]
        for r in range(n):
            t0, t1, t2 = t[r, 0], t[r, 1], t[r, 2]
            for s in range(n):
                c0, c1, c2, out = G[s, 0], G[s, 1], G[s, 2], U[n * r + s, b]
                for a in range(A):
                    out[u(a)] = t0[u(a)] * c0 + t1[u(a)] * c1 + t2[u(a)] * c2


@kernel
def winograd_filter_gradient(dU, G, lo, hi, dw):
    """dw[a, b] = Gᵀ D G, D[r, s] = dU[n·r + s, a, b], for lo ≤ a < hi: the adjoint of winograd_filters (dU
    (n², A, B), dw (A, B, 3, 3)).  Loops along b, which dU holds side by side."""
    B, n = dU.shape[2], G.shape[0]
    e = np.empty((n, 3, B), dw.dtype)          # D G
    taps = np.empty((9, B), dw.dtype)          # Gᵀ D G, tap by tap
    for a in range(lo, hi):
        for r in range(n):
            for j in range(3):
                out, c = e[r, j], G[0, j]
                first = dU[n * r, a]
                for b in range(B):
                    out[u(b)] = c * first[u(b)]
                for s in range(1, n):
                    c, row = G[s, j], dU[n * r + s, a]
                    for b in range(B):
                        out[u(b)] += c * row[u(b)]
        for i in range(3):
            for j in range(3):
                out, c = taps[3 * i + j], G[0, i]
                first = e[0, j]
                for b in range(B):
                    out[u(b)] = c * first[u(b)]
                for r in range(1, n):
                    c, row = G[r, i], e[r, j]
                    for b in range(B):
                        out[u(b)] += c * row[u(b)]
        for b in range(B):
            for i in range(3):
                for j in range(3):
                    dw[a, b, i, j] = taps[3 * i + j, b]


@kernel
def _channels_first(xt, pad, x):
    """x[c, h, w] = xt[pad + h, (pad + w)·C + c] for one image x (C, H, W), from a padded channels-last image xt.  Reading xt in order and writing x with strides is 1.5-2× faster than the other way round."""
    C, H, W = x.shape
    for h in range(H):
        row = xt[u(pad + h)]
        for w in range(W):
            base = (pad + w) * C
            for c in range(C):
                x[u(c), u(h), u(w)] = row[u(base + c)]


@kernel
def _input_down(m, xt, top, rows):
    """rows[k, q] = (Bᵀ (xt[top + j, q])_j)_k for every q: Bᵀ down the m + 2 rows of the channels-last image xt
    from row ``top`` on, for every column and channel at once."""
    if m == 2:
        r0, r1, r2, r3 = xt[u(top)], xt[u(top + 1)], xt[u(top + 2)], xt[u(top + 3)]
        for q in range(xt.shape[1]):
            rows[0, u(q)], rows[1, u(q)], rows[2, u(q)], rows[3, u(q)] = _bt4(r0[u(q)], r1[u(q)], r2[u(q)], r3[u(q)])
    elif m == 3:
        r0, r1, r2, r3, r4 = xt[u(top)], xt[u(top + 1)], xt[u(top + 2)], xt[u(top + 3)], xt[u(top + 4)]
        for q in range(xt.shape[1]):
            rows[0, u(q)], rows[1, u(q)], rows[2, u(q)], rows[3, u(q)], rows[4, u(q)] = _bt5(
                r0[u(q)], r1[u(q)], r2[u(q)], r3[u(q)], r4[u(q)])
    else:
        r0, r1, r2, r3, r4, r5 = xt[u(top)], xt[u(top + 1)], xt[u(top + 2)], xt[u(top + 3)], xt[u(top + 4)], xt[u(top + 5)]
        for q in range(xt.shape[1]):
            rows[0, u(q)], rows[1, u(q)], rows[2, u(q)], rows[3, u(q)], rows[4, u(q)], rows[5, u(q)] = _bt6(
                r0[u(q)], r1[u(q)], r2[u(q)], r3[u(q)], r4[u(q)], r5[u(q)])


@kernel
def _tile_columns(x, pad, m, xd):
    """xd[j, pad + h, tx·C + c] = x[c, h, w] for every tile column tx and place j in it with m·tx + j = pad + w:
    one image x (C, H, W), channels last, the columns that two tiles share (n − m of them) written for both, so
    that column j of every tile of a row lies side by side; the rest of xd is left as it is (zeros)."""
    C, H, W = x.shape
    n, tiles_w = xd.shape[0], xd.shape[2] // C
    for h in range(H):
        for w in range(W):
            wp = pad + w
            for tx in range(max(0, (wp - n) // m + 1), min(tiles_w, wp // m + 1)):
                dst = xd[wp - m * tx, pad + h]
                base = tx * C
                for c in range(C):
                    dst[u(base + c)] = x[u(c), u(h), u(w)]


@kernel
def _input_along(m, rows, i, V, first):
    """V[n·i + k, first + q] = (Bᵀ (rows[j, i, q])_j)_k for every q: (Bᵀ d) B, row i of every tile of a row in one
    loop over tiles and channels (V flattened to (n², T·C); rows[j] is Bᵀ down column j of every tile)."""
    n, L = m + 2, rows.shape[2]
    if m == 2:
        v0, v1, v2, v3 = (V[n * i, first:first + L], V[n * i + 1, first:first + L], V[n * i + 2, first:first + L],
                          V[n * i + 3, first:first + L])
        d0, d1, d2, d3 = rows[0, i], rows[1, i], rows[2, i], rows[3, i]
        for q in range(L):
            v0[u(q)], v1[u(q)], v2[u(q)], v3[u(q)] = _bt4(d0[u(q)], d1[u(q)], d2[u(q)], d3[u(q)])
    elif m == 3:
        v0, v1, v2, v3, v4 = (V[n * i, first:first + L], V[n * i + 1, first:first + L], V[n * i + 2, first:first + L],
                              V[n * i + 3, first:first + L], V[n * i + 4, first:first + L])
        d0, d1, d2, d3, d4 = rows[0, i], rows[1, i], rows[2, i], rows[3, i], rows[4, i]
        for q in range(L):
            v0[u(q)], v1[u(q)], v2[u(q)], v3[u(q)], v4[u(q)] = _bt5(d0[u(q)], d1[u(q)], d2[u(q)], d3[u(q)], d4[u(q)])
    else:
        v0, v1, v2, v3, v4, v5 = (V[n * i, first:first + L], V[n * i + 1, first:first + L],
                                  V[n * i + 2, first:first + L], V[n * i + 3, first:first + L],
                                  V[n * i + 4, first:first + L], V[n * i + 5, first:first + L])
        d0, d1, d2, d3, d4, d5 = rows[0, i], rows[1, i], rows[2, i], rows[3, i], rows[4, i], rows[5, i]
        for q in range(L):
            v0[u(q)], v1[u(q)], v2[u(q)], v3[u(q)], v4[u(q)], v5[u(q)] = _bt6(d0[u(q)], d1[u(q)], d2[u(q)], d3[u(q)],
                                                                              d4[u(q)], d5[u(q)])


@kernel
def winograd_input(x, pad, m, tiles_h, tiles_w, V):
    """V[:, t, c] = Bᵀ d B for the (m+2)×(m+2) tile d of channel c at tile t (stride m), x (N, C, H, W) zero-padded.

    V has shape ((m+2)², N·tiles_h·tiles_w, C), tiles numbered (n, ty, tx) in row-major order.  A row of tiles at
    a time, column j of its tiles side by side (_tile_columns): each step is one loop over its tiles and channels."""
    N, C = x.shape[:2]
    n, L = m + 2, tiles_w * C
    flat = V.reshape(V.shape[0], -1)
    xd = np.zeros((n, m * tiles_h + 2, L), x.dtype)        # one image, padded, by tile column j
    rows = np.empty((n, n, L), x.dtype)                     # Bᵀ down column j of a row of tiles: rows[j, k]
    for img in range(N):
        _tile_columns(x[img], pad, m, xd)
        for ty in range(tiles_h):
            for j in range(n):
                _input_down(m, xd[j], m * ty, rows[j])
            for i in range(n):
                _input_along(m, rows, i, flat, (img * tiles_h + ty) * L)


@kernel
def _input_adjoint_along(m, dV, i, t, row, left):
    """row[left + k·C + c] += (B (dV[n·i + j, t, c])_j)_k for every channel c: the adjoint of _input_along."""
    n, C = m + 2, dV.shape[2]
    if m == 2:
        v0, v1, v2, v3 = dV[n * i, t], dV[n * i + 1, t], dV[n * i + 2, t], dV[n * i + 3, t]
        for c in range(C):
            e0, e1, e2, e3 = _b4(v0[u(c)], v1[u(c)], v2[u(c)], v3[u(c)])
            row[u(left + c)] += e0
            row[u(left + C + c)] += e1
            row[u(left + 2 * C + c)] += e2
            row[u(left + 3 * C + c)] += e3
    elif m == 3:
        v0, v1, v2, v3, v4 = dV[n * i, t], dV[n * i + 1, t], dV[n * i + 2, t], dV[n * i + 3, t], dV[n * i + 4, t]
        for c in range(C):
            e0, e1, e2, e3, e4 = _b5(v0[u(c)], v1[u(c)], v2[u(c)], v3[u(c)], v4[u(c)])
            row[u(left + c)] += e0
            row[u(left + C + c)] += e1
            row[u(left + 2 * C + c)] += e2
            row[u(left + 3 * C + c)] += e3
            row[u(left + 4 * C + c)] += e4
    else:
        v0, v1, v2, v3, v4, v5 = (dV[n * i, t], dV[n * i + 1, t], dV[n * i + 2, t], dV[n * i + 3, t],
                                  dV[n * i + 4, t], dV[n * i + 5, t])
        for c in range(C):
            e0, e1, e2, e3, e4, e5 = _b6(v0[u(c)], v1[u(c)], v2[u(c)], v3[u(c)], v4[u(c)], v5[u(c)])
            row[u(left + c)] += e0
            row[u(left + C + c)] += e1
            row[u(left + 2 * C + c)] += e2
            row[u(left + 3 * C + c)] += e3
            row[u(left + 4 * C + c)] += e4
            row[u(left + 5 * C + c)] += e5


@kernel
def _input_adjoint_down(m, rows, dxt, top):
    """dxt[top + k, q] += (B rows[:, q])_k for every q: the adjoint of _input_down."""
    if m == 2:
        r0, r1, r2, r3 = dxt[u(top)], dxt[u(top + 1)], dxt[u(top + 2)], dxt[u(top + 3)]
        for q in range(dxt.shape[1]):
            e0, e1, e2, e3 = _b4(rows[0, u(q)], rows[1, u(q)], rows[2, u(q)], rows[3, u(q)])
            r0[u(q)] += e0
            r1[u(q)] += e1
            r2[u(q)] += e2
            r3[u(q)] += e3
    elif m == 3:
        r0, r1, r2, r3, r4 = dxt[u(top)], dxt[u(top + 1)], dxt[u(top + 2)], dxt[u(top + 3)], dxt[u(top + 4)]
        for q in range(dxt.shape[1]):
            e0, e1, e2, e3, e4 = _b5(rows[0, u(q)], rows[1, u(q)], rows[2, u(q)], rows[3, u(q)], rows[4, u(q)])
            r0[u(q)] += e0
            r1[u(q)] += e1
            r2[u(q)] += e2
            r3[u(q)] += e3
            r4[u(q)] += e4
    else:
        r0, r1, r2, r3, r4, r5 = (dxt[u(top)], dxt[u(top + 1)], dxt[u(top + 2)], dxt[u(top + 3)], dxt[u(top + 4)],
                                  dxt[u(top + 5)])
        for q in range(dxt.shape[1]):
            e0, e1, e2, e3, e4, e5 = _b6(rows[0, u(q)], rows[1, u(q)], rows[2, u(q)], rows[3, u(q)], rows[4, u(q)],
                                         rows[5, u(q)])
            r0[u(q)] += e0
            r1[u(q)] += e1
            r2[u(q)] += e2
            r3[u(q)] += e3
            r4[u(q)] += e4
            r5[u(q)] += e5


@kernel
def winograd_input_adjoint(dV, pad, m, tiles_h, tiles_w, dx):
    """Adjoint of winograd_input: scatter-add B dV Bᵀ of every tile into dx (N, C, H, W)."""
    N, C = dx.shape[:2]
    n = m + 2
    dxt = np.empty((m * tiles_h + 2, (m * tiles_w + 2) * C), dx.dtype)   # one image's dx, padded, channels last
    rows = np.empty((n, dxt.shape[1]), dx.dtype)                          # dV B for one row of tiles
    for img in range(N):
        dxt[...] = 0
        for ty in range(tiles_h):
            rows[...] = 0
            for tx in range(tiles_w):
                t = (img * tiles_h + ty) * tiles_w + tx
                for i in range(n):
                    _input_adjoint_along(m, dV, i, t, rows[i], m * tx * C)
            _input_adjoint_down(m, rows, dxt, m * ty)
        _channels_first(dxt, pad, dx[img])


@kernel
def _output_across(m, M, i, first, s):
    """s[c, q] = (Aᵀ (M[n·i + j, first + q])_j)_c for q < s.shape[1]: M A, row i of a row of tiles, every tile and
    filter in one loop (M flattened to (n², T·F))."""
    n, L = m + 2, s.shape[1]
    if m == 2:
        v0, v1, v2, v3 = (M[n * i, first:first + L], M[n * i + 1, first:first + L], M[n * i + 2, first:first + L],
                          M[n * i + 3, first:first + L])
        for q in range(L):
            s[0, u(q)], s[1, u(q)] = _at4(v0[u(q)], v1[u(q)], v2[u(q)], v3[u(q)])
    elif m == 3:
        v0, v1, v2, v3, v4 = (M[n * i, first:first + L], M[n * i + 1, first:first + L], M[n * i + 2, first:first + L],
                              M[n * i + 3, first:first + L], M[n * i + 4, first:first + L])
        for q in range(L):
            s[0, u(q)], s[1, u(q)], s[2, u(q)] = _at5(v0[u(q)], v1[u(q)], v2[u(q)], v3[u(q)], v4[u(q)])
    else:
        v0, v1, v2, v3, v4, v5 = (M[n * i, first:first + L], M[n * i + 1, first:first + L],
                                  M[n * i + 2, first:first + L], M[n * i + 3, first:first + L],
                                  M[n * i + 4, first:first + L], M[n * i + 5, first:first + L])
        for q in range(L):
            s[0, u(q)], s[1, u(q)], s[2, u(q)], s[3, u(q)] = _at6(v0[u(q)], v1[u(q)], v2[u(q)], v3[u(q)], v4[u(q)],
                                                                  v5[u(q)])


@kernel
def _output_down(m, s, c, out):
    """out[r, c, q] = (Aᵀ (s[i, c, q])_i)_r for every q: Aᵀ (M A), column c of every tile of the row."""
    if m == 2:
        for q in range(s.shape[2]):
            out[0, c, u(q)], out[1, c, u(q)] = _at4(s[0, c, u(q)], s[1, c, u(q)], s[2, c, u(q)], s[3, c, u(q)])
    elif m == 3:
        for q in range(s.shape[2]):
            out[0, c, u(q)], out[1, c, u(q)], out[2, c, u(q)] = _at5(s[0, c, u(q)], s[1, c, u(q)], s[2, c, u(q)],
                                                                     s[3, c, u(q)], s[4, c, u(q)])
    else:
        for q in range(s.shape[2]):
            out[0, c, u(q)], out[1, c, u(q)], out[2, c, u(q)], out[3, c, u(q)] = _at6(
                s[0, c, u(q)], s[1, c, u(q)], s[2, c, u(q)], s[3, c, u(q)], s[4, c, u(q)], s[5, c, u(q)])


@kernel
def _tile_order(h, w, m, L, F):
    """Where pixel (h, w) = (m·ty + r, m·tx + c) of an image starts in its tiles yt[ty, r, c, tx·F + f] (tiles_h, m,
    m, L = tiles_w·F), flattened."""
    return (h * m + w % m) * L + (w // m) * F


@kernel
def _tiles_to_image(yt, scale, bias, relu, y):
    """y[f, m·ty + r, m·tx + c] = yt[ty, r, c, tx·F + f]·scale[f] + bias[f] (then max(·, 0) if relu), cut to
    y (F, Ho, Wo): one image's output tiles, channels last in tile order, back to NCHW."""
    F, Ho, Wo = y.shape
    flat = yt.reshape(-1)
    for h in range(Ho):
        for w in range(Wo):
            at = _tile_order(h, w, yt.shape[1], yt.shape[3], F)
            for f in range(F):
                y[u(f), u(h), u(w)] = _relu_if(relu, flat[u(at + f)] * scale[u(f)] + bias[u(f)])


@kernel
def winograd_output(M, scale, bias, relu, m, tiles_h, tiles_w, y):
    """y[n, f] = (Aᵀ M[:, t, f] A)·scale[f] + bias[f] (then max(·, 0) if relu) for the (m+2)×(m+2) tile of every
    tile t, cut to y (N, F, Ho, Wo); M is ((m+2)², N·tiles_h·tiles_w, F).  A row of tiles at a time: each step is
    one loop over its tiles and filters."""
    N, F = y.shape[:2]
    n, L = m + 2, tiles_w * F
    flat = M.reshape(M.shape[0], -1)
    s = np.empty((n, m, L), y.dtype)                                  # M A for a row of tiles
    yt = np.empty((tiles_h, m, m, L), y.dtype)                        # one image's tiles: [ty, r, c, (tx, f)]
    for img in range(N):
        for ty in range(tiles_h):
            first = (img * tiles_h + ty) * L
            for i in range(n):
                _output_across(m, flat, i, first, s[i])
            for c in range(m):
                _output_down(m, s, c, yt[ty])
        _tiles_to_image(yt, scale, bias, relu, y[img])              # a tile may hang over y's edge: cut


@kernel
def _image_to_tiles(y, yt):
    """yt[ty, r, c, tx·F + f] = y[f, m·ty + r, m·tx + c] for one image y (F, Ho, Wo): the adjoint of
    _tiles_to_image without its affine (yt's places past y's edge are left as they are)."""
    F, Ho, Wo = y.shape
    flat = yt.reshape(-1)
    for h in range(Ho):
        for w in range(Wo):
            at = _tile_order(h, w, yt.shape[1], yt.shape[3], F)
            for f in range(F):
                flat[u(at + f)] = y[u(f), u(h), u(w)]


@kernel
def _output_adjoint_down(m, g, c, e):
    """e[:, c, q] = A (g[r, c, q])_r for every q: the adjoint of _output_down."""
    if m == 2:
        for q in range(e.shape[2]):
            e[0, c, u(q)], e[1, c, u(q)], e[2, c, u(q)], e[3, c, u(q)] = _a4(g[0, c, u(q)], g[1, c, u(q)])
    elif m == 3:
        for q in range(e.shape[2]):
            e[0, c, u(q)], e[1, c, u(q)], e[2, c, u(q)], e[3, c, u(q)], e[4, c, u(q)] = _a5(
                g[0, c, u(q)], g[1, c, u(q)], g[2, c, u(q)])
    else:
        for q in range(e.shape[2]):
            e[0, c, u(q)], e[1, c, u(q)], e[2, c, u(q)], e[3, c, u(q)], e[4, c, u(q)], e[5, c, u(q)] = _a6(
                g[0, c, u(q)], g[1, c, u(q)], g[2, c, u(q)], g[3, c, u(q)])


@kernel
def _output_adjoint_across(m, e, i, first, dM):
    """dM[n·i + j, first + q] = (A e[i, :, q])_j for every q: the adjoint of _output_across."""
    n, L = m + 2, e.shape[2]
    if m == 2:
        v0, v1, v2, v3 = (dM[n * i, first:first + L], dM[n * i + 1, first:first + L],
                          dM[n * i + 2, first:first + L], dM[n * i + 3, first:first + L])
        for q in range(L):
            v0[u(q)], v1[u(q)], v2[u(q)], v3[u(q)] = _a4(e[i, 0, u(q)], e[i, 1, u(q)])
    elif m == 3:
        v0, v1, v2, v3, v4 = (dM[n * i, first:first + L], dM[n * i + 1, first:first + L],
                              dM[n * i + 2, first:first + L], dM[n * i + 3, first:first + L],
                              dM[n * i + 4, first:first + L])
        for q in range(L):
            v0[u(q)], v1[u(q)], v2[u(q)], v3[u(q)], v4[u(q)] = _a5(e[i, 0, u(q)], e[i, 1, u(q)], e[i, 2, u(q)])
    else:
        v0, v1, v2, v3, v4, v5 = (dM[n * i, first:first + L], dM[n * i + 1, first:first + L],
                                  dM[n * i + 2, first:first + L], dM[n * i + 3, first:first + L],
                                  dM[n * i + 4, first:first + L], dM[n * i + 5, first:first + L])
        for q in range(L):
            v0[u(q)], v1[u(q)], v2[u(q)], v3[u(q)], v4[u(q)], v5[u(q)] = _a6(e[i, 0, u(q)], e[i, 1, u(q)],
                                                                             e[i, 2, u(q)], e[i, 3, u(q)])


@kernel
def winograd_output_adjoint(dy, m, tiles_h, tiles_w, dM):
    """Adjoint of winograd_output (without the bias): dM[:, t, f] = A g Aᵀ for the m×m tile g of dy (N, F, Ho, Wo)
    at tile t (0 past dy's edge).  A row of tiles at a time, as winograd_output."""
    N, F = dy.shape[:2]
    n, L = m + 2, tiles_w * F
    flat = dM.reshape(dM.shape[0], -1)
    gt = np.zeros((tiles_h, m, m, L), dy.dtype)                      # one image's dy in tile order (0 past the edge)
    e = np.empty((n, m, L), dy.dtype)                                  # A g for a row of tiles
    for img in range(N):
        _image_to_tiles(dy[img], gt)
        for ty in range(tiles_h):
            first = (img * tiles_h + ty) * L
            for c in range(m):
                _output_adjoint_down(m, gt[ty], c, e)
            for i in range(n):
                _output_adjoint_across(m, e, i, first, flat)
