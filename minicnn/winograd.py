"""Winograd's F(2×2, 3×3): a 3×3 stride-1 convolution with 2.25× fewer multiplications.

Lavin & Gray (2015), "Fast Algorithms for Convolutional Neural Networks".  Cut the
output into 2×2 tiles; each needs the 4×4 input tile d under it (tiles overlap by 2).
Direct convolution spends 2·2·9 = 36 multiplications per tile and channel pair; Winograd
spends 16:

    Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A          g: 3×3 filter, ⊙: element-wise product

    Bᵀ = [[1, 0, -1, 0],     G = [[ 1,    0,   0 ],     Aᵀ = [[1, 1,  1,  0],
          [0, 1,  1, 0],          [ 1/2,  1/2, 1/2],           [0, 1, -1, -1]]
          [0,-1,  1, 0],          [ 1/2, -1/2, 1/2],
          [0, 1,  0,-1]]          [ 0,    0,   1 ]]

Summed over input channels c, the 16 element-wise products of each tile become 16
matrix products, which BLAS runs fast.  With t numbering the tiles of the batch:

    U[ξ, f, c] = (G g[f, c] Gᵀ)[ξ]      filters, once per pass              (16, F, C)
    V[ξ, c, t] = (Bᵀ d[c, t] B)[ξ]      input tiles                         (16, C, T)
    M[ξ]       = U[ξ] · V[ξ]            16 matrix products                  (16, F, T)
    y[f, t]    = Aᵀ M[:, f, t] A + b[f]  each 4×4 back to a 2×2 output tile

Every step is linear, so backward is each step's adjoint in reverse order:

    dM[:, f, t] = A dy[f, t] Aᵀ                                             (16, F, T)
    dU[ξ] = Σ_chunks dM[ξ] · V[ξ]ᵀ        dL/dW[f, c] = Gᵀ dU[:, f, c] G
    dV[ξ] = U[ξ]ᵀ · dM[ξ]                 dL/dx = Σ over tiles of B dV[:, c, t] Bᵀ
    dL/db = Σ dy

The tile transforms are the Numba kernels winograd_input, winograd_output and their
adjoints (minicnn/kernels.py, NumPy twins in minicnn/reference.py); the filter
transforms are one matrix product each, with the Kronecker product G ⊗ G.  The result equals the direct convolution up to
float rounding (the matrices hold only 0, ±1 and ±1/2).  docs/winograd.md works an
example by hand.
"""
import numpy as np

from . import kernels, parallel

BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)
AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)

TILES_PER_CHUNK = 256     # columns of each of the 16 matrix products: enough for BLAS to run near its peak
FILTER_GRADIENT_TILES = 128   # backward: the least inner dimension of each chunk's 16 products dU = dM·Vᵀ


GG = np.kron(G, G)          # (16, 9): GG @ vec(g) = vec(G g Gᵀ), so one matrix product transforms every filter


def transform_filters(w):
    """U = G g Gᵀ for every 3×3 filter g of w (F, C, 3, 3), as (16, F, C)."""
    F, C = w.shape[:2]
    with parallel.single_threaded_blas():
        return (GG.astype(w.dtype) @ w.reshape(F * C, 9).T).reshape(16, F, C)


def filter_gradient(dU):
    """Adjoint of transform_filters: dL/dW = Gᵀ dU G for every (f, c), from dU (16, F, C) to (F, C, 3, 3)."""
    F, C = dU.shape[1:]
    with parallel.single_threaded_blas():
        return (dU.reshape(16, F * C).T @ GG.astype(dU.dtype)).reshape(F, C, 3, 3)


def tile_grid(H, W, pad):
    """Output size and the number of 2×2 output tiles down and across (the last may hang over the edge)."""
    Ho, Wo = H + 2 * pad - 2, W + 2 * pad - 2
    return Ho, Wo, -(-Ho // 2), -(-Wo // 2)


def tile_count(H, W, pad):
    _, _, tiles_h, tiles_w = tile_grid(H, W, pad)
    return tiles_h * tiles_w


def images_per_chunk(N, tiles_per_image):
    return parallel.chunk_size(N, -(-TILES_PER_CHUNK // tiles_per_image))


def images_per_backward_chunk(N, tiles_per_image):
    """Backward's chunks: as forward's, but never with fewer than FILTER_GRADIENT_TILES tiles (rounded up to a
    power of two of images, so a batch of 2^k splits evenly).  Each chunk adds a (16, F, C) product whose inner
    dimension is its tile count: on small images (6x6: 9 tiles each) forward's chunks made that thin, and the
    many F·C-sized partial sums cost more than the products (256→256 channels at 6x6: 38 → 28 ms)."""
    least = 1 << (-(-FILTER_GRADIENT_TILES // tiles_per_image) - 1).bit_length()
    return max(images_per_chunk(N, tiles_per_image), min(least, N))


def conv3x3_forward(x, w, scale, bias, pad, relu=False):
    """y = conv(x, w)·scale + bias per output channel (then max(·, 0) if relu) for x (N, C, H, W),
    w (F, C, 3, 3), stride 1; returns y and U for backward."""
    N, C, H, W = x.shape
    F = w.shape[0]
    Ho, Wo, tiles_h, tiles_w = tile_grid(H, W, pad)
    tiles = tiles_h * tiles_w
    U = transform_filters(w)
    y = np.empty((N, F, Ho, Wo), dtype=x.dtype)

    def forward_chunk(lo, hi):
        V = parallel.scratch("V", (16, C, (hi - lo) * tiles), x.dtype)
        kernels.winograd_input(x[lo:hi], pad, tiles_h, tiles_w, V)
        M = np.matmul(U, V, out=parallel.scratch("M", (16, F, (hi - lo) * tiles), x.dtype))
        kernels.winograd_output(M, scale, bias, relu, tiles_h, tiles_w, y[lo:hi])

    parallel.for_each_chunk(forward_chunk, N, images_per_chunk(N, tiles))
    return y, U


def conv3x3_backward(x, dy, U, pad):
    """dL/dx, dL/dw, dL/db of conv3x3_forward, given dy (N, F, Ho, Wo) and the forward's U."""
    N, C, H, W = x.shape
    F = dy.shape[1]
    _, _, tiles_h, tiles_w = tile_grid(H, W, pad)
    tiles = tiles_h * tiles_w
    Ut = U.transpose(0, 2, 1)
    dx = np.empty_like(x)

    def backward_chunk(lo, hi):
        T = (hi - lo) * tiles
        V = parallel.scratch("V", (16, C, T), x.dtype)
        kernels.winograd_input(x[lo:hi], pad, tiles_h, tiles_w, V)
        dM = parallel.scratch("M", (16, F, T), dy.dtype)
        kernels.winograd_output_adjoint(dy[lo:hi], tiles_h, tiles_w, dM)
        dV = np.matmul(Ut, dM, out=parallel.scratch("dV", (16, C, T), dy.dtype))
        kernels.winograd_input_adjoint(dV, pad, tiles_h, tiles_w, dx[lo:hi])
        dU = np.matmul(dM, V.transpose(0, 2, 1), out=parallel.scratch("dU", (16, F, C), dy.dtype))
        return dU, dy[lo:hi].sum(axis=(0, 2, 3))

    dU, db = parallel.sum_over_chunks(backward_chunk, N, images_per_backward_chunk(N, tiles))
    return dx, filter_gradient(dU), db
