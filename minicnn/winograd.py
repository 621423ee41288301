"""Winograd's minimal filtering: a 3×3 stride-1 convolution with 2.25×, 3.24× or 4× fewer multiplications.

Lavin & Gray (2015), "Fast Algorithms for Convolutional Neural Networks".  Cut the
output into m×m tiles; each needs the n×n input tile d under it, n = m + 2 (tiles
overlap by 2).  Direct convolution spends m·m·9 multiplications per tile and channel
pair; Winograd's F(m×m, 3×3) spends n·n:

    Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A          g: 3×3 filter, ⊙: element-wise product

F(2×2, 3×3), m = 2: 16 multiplications for 36 (2.25× fewer); the matrices hold 0, ±1, ±1/2:

    Bᵀ = [[1, 0, -1, 0],     G = [[ 1,    0,   0 ],     Aᵀ = [[1, 1,  1,  0],
          [0, 1,  1, 0],          [ 1/2,  1/2, 1/2],           [0, 1, -1, -1]]
          [0,-1,  1, 0],          [ 1/2, -1/2, 1/2],
          [0, 1,  0,-1]]          [ 0,    0,   1 ]]

F(4×4, 3×3), m = 4: 36 multiplications for 144 (4× fewer); interpolation points 0, ±1, ±2 and ∞,
so the matrices hold larger numbers (4, 5, 8, 1/6, 1/24) and float32 rounding grows (docs/winograd.md
measures it against float64):

    Bᵀ = [[4,  0, -5,  0, 1, 0],     G = [[ 1/4,     0,    0 ],     Aᵀ = [[1, 1,  1, 1,  1, 0],
          [0, -4, -4,  1, 1, 0],          [-1/6,  -1/6, -1/6],            [0, 1, -1, 2, -2, 0],
          [0,  4, -4, -1, 1, 0],          [-1/6,   1/6, -1/6],            [0, 1,  1, 4,  4, 0],
          [0, -2, -1,  2, 1, 0],          [ 1/24, 1/12,  1/6],            [0, 1, -1, 8, -8, 1]]
          [0,  2, -1, -2, 1, 0],          [ 1/24, -1/12, 1/6],
          [0,  4,  0, -5, 0, 1]]          [ 0,       0,    1 ]]

F(3×3, 3×3), m = 3: 25 multiplications for 81 (3.24× fewer), points 0, ±1, 2 and ∞, for the outputs that
tiles of 2 or 4 cover badly (6×6: 4 tiles of 25 against 9 of 16 or 4 of 36, 1.44× fewer multiplications):

    Bᵀ = [[2, -1, -2,  1, 0],     G = [[1/2,    0,    0],     Aᵀ = [[1, 1,  1, 1, 0],
          [0,  2,  1, -1, 0],          [1/2,  1/2,  1/2],            [0, 1, -1, 2, 0],
          [0, -2,  3, -1, 0],          [1/6, -1/6,  1/6],            [0, 1,  1, 4, 1]]
          [0, -1,  0,  1, 0],          [1/6,  1/3,  2/3],
          [0,  2, -1, -2, 1]]          [0,      0,    1]]

Summed over input channels c, the n² element-wise products of each tile become n²
matrix products, which BLAS runs fast.  With t numbering the tiles of the batch, ξ the n² places of a tile
(channels innermost, so that the transforms run along them: docs/winograd.md, "Channels last"):

    U[ξ, f, c] = (G g[f, c] Gᵀ)[ξ]      filters, once per pass              (n², F, C)
    V[ξ, t, c] = (Bᵀ d[c, t] B)[ξ]      input tiles                         (n², T, C)
    M[ξ]       = V[ξ] · U[ξ]ᵀ           n² matrix products                  (n², T, F)
    y[f, t]    = Aᵀ M[:, t, f] A + b[f]  each n×n back to an m×m output tile

Every step is linear, so backward is each step's adjoint in reverse order:

    dM[:, t, f] = A dy[f, t] Aᵀ                                             (n², T, F)
    dU[ξ] = Σ_chunks dM[ξ]ᵀ · V[ξ]        dL/dW[f, c] = Gᵀ dU[:, f, c] G
    dV[ξ] = dM[ξ] · U[ξ]                  dL/dx = Σ over tiles of B dV[:, t, c] Bᵀ
    dL/db = Σ dy

``tile_size(Ho, Wo)`` picks m for a layer: the one that multiplies least over its output (4 for 12×12 or
24×24 outputs, 3 for 6×6; on a tie the smaller, more exact one).  The tile transforms are the Numba
kernels winograd_input, winograd_output and their adjoints (minicnn/kernels.py, NumPy twins in
minicnn/reference.py); so are the filter transforms, winograd_filters and its adjoint.
The result equals the direct convolution up to float rounding.  docs/winograd.md works an example by hand.
"""
import numpy as np

from . import kernels, parallel

BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)
AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)
BT4 = np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0],
                [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], dtype=np.float64)
G4 = np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6],
               [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], dtype=np.float64)
AT4 = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]], dtype=np.float64)
BT3 = np.array([[2, -1, -2, 1, 0], [0, 2, 1, -1, 0], [0, -2, 3, -1, 0], [0, -1, 0, 1, 0], [0, 2, -1, -2, 1]],
               dtype=np.float64)
G3 = np.array([[1 / 2, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 6, -1 / 6, 1 / 6], [1 / 6, 1 / 3, 2 / 3], [0, 0, 1]],
              dtype=np.float64)
AT3 = np.array([[1, 1, 1, 1, 0], [0, 1, -1, 2, 0], [0, 1, 1, 4, 1]], dtype=np.float64)
MATRICES = {2: (BT, G, AT), 3: (BT3, G3, AT3), 4: (BT4, G4, AT4)}      # m: (Bᵀ, G, Aᵀ) of F(m×m, 3×3)

TILES_PER_CHUNK = 256     # a chunk's tiles, counted as F(2×2) tiles (16 numbers): enough columns for BLAS to
                          # run near its peak, few enough that the chunk's V and M stay near the core's cache
FILTER_GRADIENT_TILES = 128   # backward: the least inner dimension of each chunk's products dU = dMᵀ·V
FILTER_CHANNELS_PER_CHUNK = 32  # the filter transforms: channels of w per chunk (fewer: the chunks cost more than they share)
SHARED_PRODUCT_MULTIPLY_ADDS = 6_000_000    # a batch that is one chunk shares its products out by point above
                         # this: 10 images (one face, crops TTA) ran the 12x12 and 6x6 layers on one core; below it
                         # waking the second core (~70 us on a VM) costs more than it saves
PRODUCT_TILES = 64       # forward: the least rows of each chunk's products M = V·U (6×6 outputs, 4 tiles an image:
                         # 32 rows ran at 86 GFLOP/s a core, 64 at 110)



def tile_size(Ho, Wo):
    """m of the F(m×m, 3×3) that multiplies least for an Ho×Wo output (the smaller m on a tie: less rounding)."""
    return min(MATRICES, key=lambda m: (-(-Ho // m) * -(-Wo // m) * (m + 2) ** 2, m))


def transform_filters(w, m=2):
    """U[ξ, b, a] = (G g Gᵀ)[ξ] for every 3×3 filter g = w[a, b] of w (A, B, 3, 3), as ((m+2)², B, A): for
    w (F, C, 3, 3), the (C, F) matrices the forward products want; for w.transpose(1, 0, 2, 3), backward's (F, C)
    (transposing U instead would move 4× more).  Kernel winograd_filters, a few channels b per chunk."""
    A, B = w.shape[:2]
    G = MATRICES[m][1].astype(w.dtype)
    U = np.empty(((m + 2) ** 2, B, A), w.dtype)
    parallel.for_each_chunk(lambda lo, hi: kernels.winograd_filters(w, G, lo, hi, U), B,
                            parallel.chunk_size(B, FILTER_CHANNELS_PER_CHUNK, FILTER_CHANNELS_PER_CHUNK))
    return U


def filter_gradient(dU):
    """Adjoint of transform_filters(w.transpose(1, 0, 2, 3)): dL/dW = Gᵀ dU G for every (f, c), from dU
    ((m+2)², F, C) to (F, C, 3, 3).  Kernel winograd_filter_gradient, a few filters f per chunk."""
    F, C = dU.shape[1:]
    G = MATRICES[tile_of(dU)][1].astype(dU.dtype)
    dw = np.empty((F, C, 3, 3), dU.dtype)
    parallel.for_each_chunk(lambda lo, hi: kernels.winograd_filter_gradient(dU, G, lo, hi, dw), F,
                            parallel.chunk_size(F, FILTER_CHANNELS_PER_CHUNK, FILTER_CHANNELS_PER_CHUNK))
    return dw


def tile_of(U):
    """m of the F(m×m, 3×3) whose ((m+2)², …) array U is: filters, their gradient."""
    return int(round(U.shape[0] ** 0.5)) - 2


def tile_grid(H, W, pad, m=2):
    """Output size and the number of m×m output tiles down and across (the last may hang over the edge)."""
    Ho, Wo = H + 2 * pad - 2, W + 2 * pad - 2
    return Ho, Wo, -(-Ho // m), -(-Wo // m)


def tile_count(H, W, pad, m=2):
    _, _, tiles_h, tiles_w = tile_grid(H, W, pad, m)
    return tiles_h * tiles_w


def images_per_chunk(N, tiles_per_image, m=2):
    """Images per chunk: TILES_PER_CHUNK tiles of F(2×2), or as many of F(m×m) as hold the same numbers (an
    F(4×4) tile holds 36: 24×24 layers of 32→64 channels, forward 16.3 → 12.5 ms with chunks half as large), and
    never fewer than PRODUCT_TILES tiles, even if that leaves fewer than parallel.MIN_CHUNKS chunks.  The chunks
    are then evened out: 10 images in chunks of 8 would leave one core 2 of them (the live path's one face)."""
    chunk = parallel.chunk_size(N, -(-TILES_PER_CHUNK * 16 // (tiles_per_image * (m + 2) ** 2)),
                                -(-PRODUCT_TILES // tiles_per_image))
    return -(-N // -(-N // chunk)) if N else chunk


def images_per_backward_chunk(N, tiles_per_image, m=2):
    """Backward's chunks: as forward's, but never with fewer than FILTER_GRADIENT_TILES tiles (rounded up to a
    power of two of images, so a batch of 2^k splits evenly).  Each chunk adds an (n², F, C) product whose inner
    dimension is its tile count: on small images (6x6: 9 tiles each) forward's chunks made that thin, and the
    many F·C-sized partial sums cost more than the products (256→256 channels at 6x6: 38 → 28 ms)."""
    least = 1 << (-(-FILTER_GRADIENT_TILES // tiles_per_image) - 1).bit_length()
    return max(images_per_chunk(N, tiles_per_image, m), min(least, N))


def conv3x3_forward(x, w, scale, bias, pad, relu=False, m=2, Ut=None):
    """y = conv(x, w)·scale + bias per output channel (then max(·, 0) if relu) for x (N, C, H, W),
    w (F, C, 3, 3), stride 1, with F(m×m, 3×3).  ``Ut``: transform_filters(w, m), where the caller keeps it."""
    N, C, H, W = x.shape
    F = w.shape[0]
    Ho, Wo, tiles_h, tiles_w = tile_grid(H, W, pad, m)
    tiles, n2 = tiles_h * tiles_w, (m + 2) ** 2
    if Ut is None:
        Ut = transform_filters(w, m)                          # (n², C, F)
    y = np.empty((N, F, Ho, Wo), dtype=x.dtype)

    def forward_chunk(lo, hi):
        V = parallel.scratch("V", (n2, (hi - lo) * tiles, C), x.dtype)
        kernels.winograd_input(x[lo:hi], pad, m, tiles_h, tiles_w, V)
        M = parallel.scratch("M", (n2, (hi - lo) * tiles, F), x.dtype)
        parallel.for_each_chunk(lambda a, b: np.matmul(V[a:b], Ut[a:b], out=M[a:b]), n2, points)
        kernels.winograd_output(M, scale, bias, relu, m, tiles_h, tiles_w, y[lo:hi])

    images = images_per_chunk(N, tiles, m)
    # one chunk (a face or two): its products shared out by point when they are large enough to pay for it
    points = -(-n2 // 2) if images >= N and n2 * N * tiles * C * F >= SHARED_PRODUCT_MULTIPLY_ADDS else n2
    parallel.for_each_chunk(forward_chunk, N, images)
    return y


def conv3x3_backward(x, dy, w, pad, m):
    """dL/dx, dL/dw, dL/db of conv3x3_forward(x, w, …, pad, m), given dy (N, F, Ho, Wo)."""
    N, C, H, W = x.shape
    F = dy.shape[1]
    n2 = (m + 2) ** 2
    _, _, tiles_h, tiles_w = tile_grid(H, W, pad, m)
    tiles = tiles_h * tiles_w
    U = transform_filters(w.transpose(1, 0, 2, 3), m)        # (n², F, C)
    dx = np.empty_like(x)

    def backward_chunk(lo, hi):
        T = (hi - lo) * tiles
        V = parallel.scratch("V", (n2, T, C), x.dtype)
        kernels.winograd_input(x[lo:hi], pad, m, tiles_h, tiles_w, V)
        dM = parallel.scratch("M", (n2, T, F), dy.dtype)
        kernels.winograd_output_adjoint(dy[lo:hi], m, tiles_h, tiles_w, dM)
        dV = np.matmul(dM, U, out=parallel.scratch("dV", (n2, T, C), dy.dtype))
        kernels.winograd_input_adjoint(dV, pad, m, tiles_h, tiles_w, dx[lo:hi])
        dU = np.matmul(dM.transpose(0, 2, 1), V, out=parallel.scratch("dU", (n2, F, C), dy.dtype))
        return dU, dy[lo:hi].sum(axis=(0, 2, 3))

    dU, db = parallel.sum_over_chunks(backward_chunk, N, images_per_backward_chunk(N, tiles, m))
    return dx, filter_gradient(dU), db
