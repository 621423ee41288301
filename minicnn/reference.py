"""Plain-NumPy twins of the Numba kernels in ``minicnn.kernels``.

Same names, same arguments, same results: these are the readable version of the
math, and the tests compare every kernel against its twin.  They are slow
(Python loops over the k*k window offsets) but contain no tricks.
"""
import numpy as np

from . import winograd
from .kernels import NO_WINNER


def _relu_if(relu, v):
    return np.maximum(v, 0) if relu else v


def _out_size(size, k, stride, pad):
    return (size + 2 * pad - k) // stride + 1


def im2col(x, kh, kw, stride, pad, cols):
    N, C, H, W = x.shape
    Ho, Wo = _out_size(H, kh, stride, pad), _out_size(W, kw, stride, pad)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    # patches[n, c, i, j, oh, ow] = xp[n, c, oh*stride + i, ow*stride + j]
    patches = np.empty((N, C, kh, kw, Ho, Wo), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            patches[:, :, i, j] = xp[:, :, i:i + stride * Ho:stride, j:j + stride * Wo:stride]
    cols[...] = patches.reshape(N, C * kh * kw, Ho * Wo).transpose(1, 0, 2)


def col2im(dcols, kh, kw, stride, pad, dx):
    N, C, H, W = dx.shape
    Ho, Wo = _out_size(H, kh, stride, pad), _out_size(W, kw, stride, pad)
    patches = dcols.transpose(1, 0, 2).reshape(N, C, kh, kw, Ho, Wo)
    dxp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=dx.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + stride * Ho:stride, j:j + stride * Wo:stride] += patches[:, :, i, j]
    dx[...] = dxp[:, :, pad:pad + H, pad:pad + W]


def conv_direct_forward(x, w, scale, bias, pad, relu, y):
    k = w.shape[2]
    Ho, Wo = y.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    total = np.zeros(y.shape, y.dtype)
    for i in range(k):
        for j in range(k):
            total += np.einsum("fc,nchw->nfhw", w[:, :, i, j], xp[:, :, i:i + Ho, j:j + Wo])
    y[...] = _relu_if(relu, total * scale.reshape(1, -1, 1, 1) + bias.reshape(1, -1, 1, 1))


def conv_direct_filter_grad(x, dy, pad, dw, db):
    db[...] = dy.sum(axis=(0, 2, 3))
    k = dw.shape[2]
    Ho, Wo = dy.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    for i in range(k):
        for j in range(k):
            dw[:, :, i, j] = np.einsum("nfhw,nchw->fc", dy, xp[:, :, i:i + Ho, j:j + Wo])


def conv_direct_input_grad(dy, w, pad, dx):
    N, C, H, W = dx.shape
    k = w.shape[2]
    Ho, Wo = dy.shape[2:]
    dxp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=dx.dtype)
    for i in range(k):
        for j in range(k):
            dxp[:, :, i:i + Ho, j:j + Wo] += np.einsum("fc,nfhw->nchw", w[:, :, i, j], dy)
    dx[...] = dxp[:, :, pad:pad + H, pad:pad + W]


def rows_to_nchw(rows, scale, bias, relu, y):
    y[...] = _relu_if(relu, rows.transpose(1, 0, 2) * scale.reshape(1, -1, 1) + bias.reshape(1, -1, 1))


def nchw_to_rows(dy, rows):
    rows[...] = dy.transpose(1, 0, 2)


def relu_forward(x, y):
    y[...] = np.maximum(x, 0)


def relu_backward(dy, y, dx):
    dx[...] = np.where(y > 0, dy, 0)


def _windows(x, k, stride, Ho, Wo):
    """(N, C, Ho, Wo, k*k) view-copy of every pooling window."""
    N, C = x.shape[:2]
    win = np.empty((N, C, Ho, Wo, k * k), dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            win[..., i * k + j] = x[:, :, i:i + stride * Ho:stride, j:j + stride * Wo:stride]
    return win


def maxpool_forward(x, k, stride, relu, y, argmax):
    Ho, Wo = y.shape[2:]
    win = _windows(x, k, stride, Ho, Wo)
    winner = win.argmax(axis=-1)                   # first maximum wins, as in the kernel
    best = np.take_along_axis(win, winner[..., None], axis=-1)[..., 0]
    cut = relu & ~(best > 0)
    y[...] = np.where(cut, 0, best)
    argmax[...] = np.where(cut, NO_WINNER, winner)


def maxpool_values(x, k, stride, relu, y):
    best = _windows(x, k, stride, *y.shape[2:]).max(axis=-1)
    y[...] = np.maximum(best, 0) if relu else best


def maxpool_backward(dy, argmax, k, stride, dx):
    N, C, H, W = dx.shape
    Ho, Wo = dy.shape[2:]
    oh = np.arange(Ho).reshape(1, 1, Ho, 1)
    ow = np.arange(Wo).reshape(1, 1, 1, Wo)
    won = argmax != NO_WINNER                      # the ReLU cut that output
    place = np.where(won, argmax, 0)
    flat_index = (oh * stride + place // k) * W + ow * stride + place % k
    flat = np.zeros((N * C, H * W), dtype=dx.dtype)
    rows = np.repeat(np.arange(N * C), Ho * Wo)
    np.add.at(flat, (rows, flat_index.reshape(-1)), np.where(won, dy, 0).reshape(-1))
    dx[...] = flat.reshape(N, C, H, W)


def avgpool_forward(x, k, stride, y):
    Ho, Wo = y.shape[2:]
    y[...] = _windows(x, k, stride, Ho, Wo).mean(axis=-1)


def avgpool_backward(dy, k, stride, dx):
    Ho, Wo = dy.shape[2:]
    dx[...] = 0
    g = dy / (k * k)
    for i in range(k):
        for j in range(k):
            dx[:, :, i:i + stride * Ho:stride, j:j + stride * Wo:stride] += g


def batchnorm_stats(x, first, mean, var):
    x = x[:, first:first + mean.size]
    mean[...] = x.mean(axis=(0, 2), dtype=np.float64)
    var[...] = x.var(axis=(0, 2), dtype=np.float64)


def batchnorm_normalize(x, scale, shift, relu, y):
    y[...] = _relu_if(relu, x * scale.reshape(1, -1, 1) + shift.reshape(1, -1, 1))


def batchnorm_backward(dy, x, first, mean, inv_std, scale, shift, training, relu, dx, dgamma, dbeta):
    block = slice(first, first + mean.size)
    dy, x, dx = dy[:, block], x[:, block], dx[:, block]
    per_channel = (1, -1, 1)
    if relu:
        dy = np.where(x * scale.reshape(per_channel) + shift.reshape(per_channel) > 0, dy, 0)
    m = dy.shape[0] * dy.shape[2]
    x_hat = (x - mean.reshape(per_channel)) * inv_std.reshape(per_channel)
    dgamma[...] = (dy * x_hat).sum(axis=(0, 2), dtype=np.float64)
    dbeta[...] = dy.sum(axis=(0, 2), dtype=np.float64)
    mean_dy = dbeta / m if training else np.zeros_like(dbeta)
    slope = dgamma / m if training else np.zeros_like(dgamma)
    dx[...] = scale.reshape(per_channel) * (dy - mean_dy.reshape(per_channel) - x_hat * slope.reshape(per_channel))


def batchnorm_relu_maxpool_forward(x, scale, shift, y, argmax):
    Ho, Wo = y.shape[2:]
    windows = _windows(x, 2, 2, Ho, Wo)                              # (N, C, Ho, Wo, 4)
    a = scale.reshape(1, -1, 1, 1)
    winner = np.where(a > 0, windows.argmax(axis=-1), np.where(a < 0, windows.argmin(axis=-1), 0))
    value = np.take_along_axis(windows, winner[..., None], axis=-1)[..., 0] * a + shift.reshape(1, -1, 1, 1)
    cut = ~(value > 0)
    y[...] = np.where(cut, 0, value)
    argmax[...] = np.where(cut, NO_WINNER, winner)


def batchnorm_relu_maxpool_backward(dy, argmax, x, first, mean, inv_std, scale, training, dx, dgamma, dbeta):
    block = slice(first, first + mean.size)
    N, C, H, W = x[:, block].shape
    routed = np.empty((N, C, H, W), dtype=dx.dtype)                 # dL/d(BatchNorm output): dy at the winners
    maxpool_backward(dy[:, block], argmax[:, block], 2, 2, routed)
    out = np.empty((N, C, H * W), dtype=dx.dtype)
    batchnorm_backward(routed.reshape(N, C, H * W), x[:, block].reshape(N, C, H * W), 0, mean, inv_std, scale,
                       scale, training, False, out, dgamma, dbeta)
    dx[:, block] = out.reshape(N, C, H, W)


def _tile_views(padded, m, tiles_h, tiles_w):
    """(N, C, tiles_h, tiles_w, m+2, m+2): the input tile under every m×m output tile (stride m)."""
    windows = np.lib.stride_tricks.sliding_window_view(padded, (m + 2, m + 2), axis=(2, 3))
    return windows[:, :, 0:m * tiles_h:m, 0:m * tiles_w:m]


def _padded_for_tiles(x, pad, m, tiles_h, tiles_w):
    N, C, H, W = x.shape
    padded = np.zeros((N, C, m * tiles_h + 2, m * tiles_w + 2), dtype=x.dtype)
    padded[:, :, pad:pad + H, pad:pad + W] = x
    return padded


def _to_xi_rows(tiles):
    """(N, K, th, tw, n, n) -> (n², N*th*tw, K), tiles numbered (n, ty, tx), channels innermost."""
    K = tiles.shape[1]
    return tiles.transpose(4, 5, 0, 2, 3, 1).reshape(tiles.shape[4] ** 2, -1, K)


def _from_xi_rows(rows, N, tiles_h, tiles_w):
    """Inverse of _to_xi_rows."""
    n, K = int(round(rows.shape[0] ** 0.5)), rows.shape[2]
    return rows.reshape(n, n, N, tiles_h, tiles_w, K).transpose(2, 5, 3, 4, 0, 1)


def winograd_filters(w, G, lo, hi, U):
    n = G.shape[0]
    transformed = G @ w[:, lo:hi] @ G.T                                  # (A, hi - lo, n, n)
    U[:, lo:hi] = transformed.reshape(w.shape[0], hi - lo, n * n).transpose(2, 1, 0)


def winograd_filter_gradient(dU, G, lo, hi, dw):
    n = G.shape[0]
    D = dU[:, lo:hi].transpose(1, 2, 0).reshape(hi - lo, dU.shape[2], n, n)
    dw[lo:hi] = G.T @ D @ G


def winograd_input(x, pad, m, tiles_h, tiles_w, V):
    BT = winograd.MATRICES[m][0].astype(x.dtype)
    d = _tile_views(_padded_for_tiles(x, pad, m, tiles_h, tiles_w), m, tiles_h, tiles_w)
    V[...] = _to_xi_rows(BT @ d @ BT.T)


def winograd_input_adjoint(dV, pad, m, tiles_h, tiles_w, dx):
    N, C, H, W = dx.shape
    BT = winograd.MATRICES[m][0].astype(dx.dtype)
    dd = BT.T @ _from_xi_rows(dV, N, tiles_h, tiles_w) @ BT
    padded = np.zeros((N, C, m * tiles_h + 2, m * tiles_w + 2), dtype=dx.dtype)
    for ty in range(tiles_h):
        for tx in range(tiles_w):
            padded[:, :, m * ty:m * ty + m + 2, m * tx:m * tx + m + 2] += dd[:, :, ty, tx]
    dx[...] = padded[:, :, pad:pad + H, pad:pad + W]


def winograd_output(M, scale, bias, relu, m, tiles_h, tiles_w, y):
    N, F, Ho, Wo = y.shape
    AT = winograd.MATRICES[m][2].astype(y.dtype)
    out = AT @ _from_xi_rows(M, N, tiles_h, tiles_w) @ AT.T                     # (N, F, th, tw, m, m)
    full = out.transpose(0, 1, 2, 4, 3, 5).reshape(N, F, m * tiles_h, m * tiles_w)
    y[...] = _relu_if(relu, full[:, :, :Ho, :Wo] * scale.reshape(1, -1, 1, 1) + bias.reshape(1, -1, 1, 1))


def winograd_output_adjoint(dy, m, tiles_h, tiles_w, dM):
    N, F, Ho, Wo = dy.shape
    AT = winograd.MATRICES[m][2].astype(dy.dtype)
    full = np.zeros((N, F, m * tiles_h, m * tiles_w), dtype=dy.dtype)
    full[:, :, :Ho, :Wo] = dy
    g = full.reshape(N, F, tiles_h, m, tiles_w, m).transpose(0, 1, 2, 4, 3, 5)
    dM[...] = _to_xi_rows(AT.T @ g @ AT)
