"""Conv2D on the CPU's cores: the equations of minicnn/layers/conv.py, computed fast.

The batch is processed a few images at a time (minicnn/parallel.py spreads these chunks over the
cores): a chunk's X_col is small enough to stay in the core's cache while its matrix products read
it, and backward gathers it again from x instead of keeping the whole batch's X_col (9× the input)
in memory.  dL/dW and dL/db are sums over the chunks, added in a fixed order
(minicnn.parallel.sum_over_chunks).  The matrix products go to BLAS; the gathers, scatters and
reorderings are the Numba kernels ``im2col``, ``col2im``, ``rows_to_nchw`` and ``nchw_to_rows``
(minicnn/kernels.py), whose readable NumPy twins are in minicnn/reference.py.

Two other algorithms compute the same convolution up to rounding, where they are faster:
* 3×3 stride-1 convolutions with at least WINOGRAD_MIN_CHANNELS input channels take
  Winograd's F(2×2, 3×3), F(3×3, 3×3) or F(4×4, 3×3) (minicnn/winograd.py, docs/winograd.md): 2.25×,
  3.24× or 4× fewer multiplications, once the batch has enough tiles to keep its products busy;
* stride-1 convolutions with C·KH·KW ≤ DIRECT_MAX_TAPS (the first layer, on grey or
  colour images) are computed directly from the forward equation, each output row a
  sum of shifted input rows (kernels conv_direct_*): im2col's matrix product would have
  only C·KH·KW rows, too few for BLAS to be fast.
``choose(layer, x)`` says which one a layer runs.

Every kernel writes its output as conv·scale + bias per output channel, with
    scale = s,   bias = b·s + t          ((conv + b)·s + t, multiplied out)
for a folded BatchNorm's affine (s, t), and scale = 1, bias = b without one.
"""
import numpy as np

from . import kernels, parallel, winograd

WINOGRAD_MIN_CHANNELS = 8     # below this, its many small matrix products cost more than they save
WINOGRAD_MIN_TILES = 80       # counted as F(2×2) tiles: with fewer, transforming the filters on every call costs more
                              # than Winograd saves (vgg's layers on the Xeon: even at 72-108, 1.1-1.6x faster at 135+)
DIRECT_MAX_TAPS = 27          # C·KH·KW up to a 3×3 kernel on 3 channels
MIN_COLUMNS = 64              # output pixels per matrix product when one image's is shared out by pixels
WINOGRAD_TILE = {"winograd": None, "winograd2x2": 2, "winograd3x3": 3, "winograd4x4": 4}    # None: the tile that multiplies least
ALGORITHMS = ("auto", "im2col", *WINOGRAD_TILE, "direct")


def forward(layer, x, relu=False, affine=None, transformed=None):
    """(y, saved): y = layer(x), with max(·, 0) where ``relu`` and the per-channel ``affine`` (s, t) applied
    as it is written; ``saved``, what backward needs (None after relu or affine, which are for inference).
    ``transformed``: a dict the caller keeps from call to call while the weights stay as they are
    (minicnn.model.Predictor), where Winograd's transformed filters are kept by tile size; with them ready,
    Winograd is faster than im2col at every batch size, one image included."""
    N = x.shape[0]
    Ho, Wo = layer.output_size(x)
    x = np.ascontiguousarray(x)
    w, p = layer.params["weight"], layer.padding
    scale, bias = output_affine(layer, affine, x.dtype)
    inference_only = relu or affine is not None
    algorithm = choose(layer, x, filters_kept=transformed is not None)
    if algorithm in WINOGRAD_TILE:
        m = WINOGRAD_TILE[algorithm] or winograd.tile_size(Ho, Wo)
        Ut = None
        if transformed is not None:
            Ut = transformed.get(m)
            if Ut is None:
                Ut = transformed[m] = winograd.transform_filters(w, m)
        y = winograd.conv3x3_forward(x, w, scale, bias, p, relu, m, Ut)
        return y, None if inference_only else (x, m)
    y = np.empty((N, layer.out_channels, Ho, Wo), dtype=x.dtype)
    if algorithm == "direct":
        parallel.for_each_chunk(lambda lo, hi: kernels.conv_direct_forward(x[lo:hi], w, scale, bias, p, relu,
                                                                           y[lo:hi]),
                                N, parallel.chunk_size(N, 1))
    else:
        _im2col_forward(layer, x, y, scale, bias, relu)
    return y, None if inference_only else (x, None)


def backward(layer, dy, saved, input_grad=True):
    """dL/dx, adding dL/dW and dL/db to the layer's grads; ``saved`` is what forward gave.  Without input_grad
    the direct algorithm (a first layer, on the image) skips dL/dx and returns None; the others compute it."""
    if saved is None:
        raise RuntimeError("Conv2D.backward after forward(relu=True) or forward(affine=...), which are for "
                           "inference only")
    (x, m), w, p = saved, layer.params["weight"], layer.padding
    dy = np.ascontiguousarray(dy)
    if m is not None:                   # Winograd's tile size
        dx, dw, db = winograd.conv3x3_backward(x, dy, w, p, m)
    else:
        direct = choose(layer, x) == "direct"
        dx = None if direct and not input_grad else np.empty_like(x)
        if direct:
            chunk, images = _direct_backward_chunk, parallel.chunk_size(x.shape[0], 1)
        else:
            chunk, images = _im2col_backward_chunk, _images_per_chunk(dy)
        dw, db = parallel.sum_over_chunks(
            lambda lo, hi: chunk(layer, x[lo:hi], dy[lo:hi], None if dx is None else dx[lo:hi]), x.shape[0], images)
    layer.grads["weight"] += dw.reshape(w.shape)
    layer.grads["bias"] += db
    return dx


def output_affine(layer, affine, dtype):
    """(scale, bias) per output channel that the kernels apply as they write y (see the top of this page)."""
    b = layer.params["bias"].astype(dtype, copy=False)
    if affine is None:
        return np.ones_like(b), b
    s, t = (np.asarray(v, dtype) for v in affine)
    return s, b * s + t


def choose(layer, x, filters_kept=False):
    """The algorithm the layer runs on input x: layer.algorithm, or for "auto" the fastest for its shape —
    Winograd on enough tiles to pay for transforming the filters, or on any number where they are kept."""
    k, s, C = layer.kernel_size, layer.stride, layer.in_channels
    if layer.algorithm == "auto":
        tiles = x.shape[0] * winograd.tile_count(x.shape[2], x.shape[3], layer.padding)
        if k == 3 and s == 1 and C >= WINOGRAD_MIN_CHANNELS and (filters_kept or tiles >= WINOGRAD_MIN_TILES):
            return "winograd"
        return "direct" if s == 1 and C * k * k <= DIRECT_MAX_TAPS else "im2col"
    if layer.algorithm not in ALGORITHMS:
        raise ValueError(f"Conv2D.algorithm must be one of {', '.join(ALGORITHMS)}, got {layer.algorithm!r}")
    if layer.algorithm in WINOGRAD_TILE and not (k == 3 and s == 1):
        raise ValueError(f"Conv2D.algorithm {layer.algorithm!r} needs a 3x3 kernel with stride 1")
    if layer.algorithm == "direct" and s != 1:
        raise ValueError("Conv2D.algorithm 'direct' needs stride 1")
    return layer.algorithm


# --- im2col: a chunk of images at a time, one matrix product each ----------------------------------------

def _im2col_forward(layer, x, y, scale, bias, relu):
    N, C = x.shape[:2]
    k, s, p, F = layer.kernel_size, layer.stride, layer.padding, layer.out_channels
    K, P = C * k * k, y.shape[2] * y.shape[3]
    w_mat, y3 = layer.params["weight"].reshape(F, K), y.reshape(N, F, P)
    if N < parallel.MIN_CHUNKS:
        # too few images to share out (a live frame's faces): one X_col, its product shared out by output
        # pixels (whole W, as BLAS likes it) where there are enough of them, else by filters
        cols = np.empty((K, N * P), dtype=x.dtype)
        kernels.im2col(x, k, k, s, p, cols.reshape(K, N, P))
        rows = np.empty((F, N * P), dtype=x.dtype)
        multiply_adds = F * K * N * P
        if N * P >= 2 * MIN_COLUMNS:
            columns = parallel.chunk_size(N * P, MIN_COLUMNS, MIN_COLUMNS)
            parallel.for_each_chunk(lambda lo, hi: np.matmul(w_mat, cols[:, lo:hi], out=rows[:, lo:hi]),
                                    N * P, parallel.chunk_unless_small(N * P, columns, multiply_adds))
            kernels.rows_to_nchw(rows.reshape(F, N, P), scale, bias, relu, y3)
            return

        def filter_block(lo, hi):
            np.matmul(w_mat[lo:hi], cols, out=rows[lo:hi])
            kernels.rows_to_nchw(rows[lo:hi].reshape(hi - lo, N, P), scale[lo:hi], bias[lo:hi], relu,
                                 y3[:, lo:hi])
        parallel.for_each_chunk(filter_block, F, parallel.chunk_unless_small(F, parallel.chunk_size(F, 32),
                                                                               multiply_adds))
        return

    def forward_chunk(lo, hi):
        cols = parallel.scratch("cols", (K, hi - lo, P), x.dtype)
        kernels.im2col(x[lo:hi], k, k, s, p, cols)
        rows = np.matmul(w_mat, cols.reshape(K, -1), out=parallel.scratch("rows", (F, (hi - lo) * P), x.dtype))
        kernels.rows_to_nchw(rows.reshape(F, hi - lo, P), scale, bias, relu, y3[lo:hi])

    parallel.for_each_chunk(forward_chunk, N, _images_per_chunk(y))


def _im2col_backward_chunk(layer, x, dy, dx):
    """dx of these images, and their share of dL/dW and dL/db."""
    n, C = x.shape[:2]
    k, s, p, F = layer.kernel_size, layer.stride, layer.padding, layer.out_channels
    K, P = C * k * k, dy.shape[2] * dy.shape[3]
    cols = parallel.scratch("cols", (K, n, P), x.dtype)
    kernels.im2col(x, k, k, s, p, cols)
    cols = cols.reshape(K, -1)
    dy_rows = parallel.scratch("rows", (F, n * P), dy.dtype)
    kernels.nchw_to_rows(dy.reshape(n, F, P), dy_rows.reshape(F, n, P))
    w_mat = layer.params["weight"].reshape(F, K)
    dcols = np.matmul(w_mat.T, dy_rows, out=parallel.scratch("dcols", (K, n * P), dy.dtype))
    kernels.col2im(dcols.reshape(K, n, P), k, k, s, p, dx)
    return np.matmul(dy_rows, cols.T, out=parallel.scratch("dw", (F, K), dy.dtype)), dy_rows.sum(axis=1)


def _images_per_chunk(y):
    # enough output pixels per chunk (≥ 256 columns) for BLAS to run near its peak
    return parallel.chunk_size(y.shape[0], -(-256 // (y.shape[2] * y.shape[3])))


# --- direct: one image at a time ---------------------------------------------------------------------------

def _direct_backward_chunk(layer, x, dy, dx):
    w, p = layer.params["weight"], layer.padding
    if dx is not None:
        kernels.conv_direct_input_grad(dy, w, p, dx)
    dw, db = parallel.scratch("dw", w.shape, dy.dtype), parallel.scratch("db", w.shape[:1], dy.dtype)
    kernels.conv_direct_filter_grad(x, dy, p, dw, db)
    return dw, db
