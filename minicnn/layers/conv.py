"""2-D convolution (cross-correlation, as in every deep-learning framework).

Shapes: x (N, C, H, W), weight (F, C, KH, KW), bias (F,), y (N, F, Ho, Wo) with
    Ho = (H + 2·pad − KH) // stride + 1,   Wo = (W + 2·pad − KW) // stride + 1.

Forward:
    y[n, f, oh, ow] = b[f] + Σ_{c,i,j} W[f, c, i, j] · xp[n, c, oh·s + i, ow·s + j]
where xp is x zero-padded by ``pad`` on each side.

im2col turns that into matrix products.  Gather every receptive field of the
batch into a column of  X_col (C·KH·KW, N·Ho·Wo)  and reshape the filters into
W_mat (F, C·KH·KW):
    Y = W_mat · X_col + b                (F, N·Ho·Wo)   then reorder to (N, F, Ho, Wo).

Backward, with dY the (F, N·Ho·Wo) reordering of dL/dy:
    dL/db     = Σ_columns dY                      (F,)
    dL/dW_mat = dY · X_colᵀ                       (F, C·KH·KW)
    dL/dX_col = W_matᵀ · dY                       (C·KH·KW, N·Ho·Wo)
    dL/dx     = col2im(dL/dX_col) — each tap adds its gradient back to the pixel it read.

The batch is processed a few images at a time (minicnn/parallel.py spreads these
chunks over the cores): the chunk's X_col is small enough to stay in the core's cache
while its matrix products read it, and backward gathers it again from x instead of
keeping the whole batch's X_col (9× the input) in memory.  dL/dW and dL/db are sums
over the chunks, added in a fixed order (minicnn.parallel.sum_over_chunks).  The matrix products go to BLAS; the
gathers, scatters and reorderings are the Numba kernels ``im2col``, ``col2im``,
``rows_to_nchw`` and ``nchw_to_rows`` (minicnn/kernels.py), whose readable NumPy
twins are in minicnn/reference.py.

Two other algorithms compute the same convolution up to rounding, where they are faster:
* 3×3 stride-1 convolutions with at least WINOGRAD_MIN_CHANNELS input channels take
  Winograd's F(2×2, 3×3) (minicnn/winograd.py, docs/winograd.md): 2.25× fewer
  multiplications, once the batch has enough tiles to keep its 16 products busy;
* stride-1 convolutions with C·KH·KW ≤ DIRECT_MAX_TAPS (the first layer, on grey or
  colour images) are computed directly from the forward equation, each output row a
  sum of shifted input rows (kernels conv_direct_*): im2col's matrix product would have
  only C·KH·KW rows, too few for BLAS to be fast.
``layer.algorithm`` picks one by hand ("im2col", "winograd", "direct" or the default "auto").

``forward(x, relu=True)`` also applies max(·, 0) as the output is written, for inference
(Sequential.predict fuses a following ReLU layer this way and saves a pass over memory), and
``forward(x, affine=(s, t))`` multiplies each output channel f by s[f] and adds t[f] as it writes:
a BatchNorm that follows, at inference, is exactly such an affine (BatchNorm.inference_affine), so
predict folds it in and saves another pass.  The kernels write conv·scale + bias with
    scale = s,   bias = b·s + t          ((conv + b)·s + t, multiplied out)
and scale = 1, bias = b without one.
"""
import numpy as np

from .. import kernels, parallel, winograd
from .base import Layer, as_rng, check_int, he_normal


WINOGRAD_MIN_CHANNELS = 8     # below this, its many small matrix products cost more than they save
DIRECT_MAX_TAPS = 27          # C·KH·KW up to a 3×3 kernel on 3 channels
MIN_COLUMNS = 64              # output pixels per matrix product when one image's is shared out by pixels
MAX_PADDING = 64              # wider borders are only zeros, and let a crafted model file ask for huge outputs
ALGORITHMS = ("auto", "im2col", "winograd", "direct")


def conv_output_size(size, kernel, stride, pad):
    return (size + 2 * pad - kernel) // stride + 1


class Conv2D(Layer):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, rng=None):
        super().__init__()
        shapes = self.state_shapes(in_channels, out_channels, kernel_size, stride, padding)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        fan_in = in_channels * kernel_size * kernel_size
        self._add_param("weight", he_normal(as_rng(rng), shapes["weight"], fan_in))
        self._add_param("bias", np.zeros(shapes["bias"], dtype=self.params["weight"].dtype))
        self.algorithm = "auto"      # not saved: every algorithm computes the same convolution

    @staticmethod
    def state_shapes(in_channels, out_channels, kernel_size, stride=1, padding=0):
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("kernel_size", kernel_size), ("stride", stride)):
            check_int("Conv2D", name, value, 1)
        check_int("Conv2D", "padding", padding, 0, MAX_PADDING)
        return {"weight": (out_channels, in_channels, kernel_size, kernel_size), "bias": (out_channels,)}

    def config(self):
        return dict(in_channels=self.in_channels, out_channels=self.out_channels,
                    kernel_size=self.kernel_size, stride=self.stride, padding=self.padding)

    fuses_relu = True

    def forward(self, x, training=False, relu=False, affine=None):
        N, C, H, W = x.shape
        if C != self.in_channels:
            raise ValueError(f"Conv2D expects {self.in_channels} input channels, got {C}")
        k, s, p = self.kernel_size, self.stride, self.padding
        Ho, Wo = conv_output_size(H, k, s, p), conv_output_size(W, k, s, p)
        if Ho < 1 or Wo < 1:
            raise ValueError(f"Conv2D({k}, stride={s}, padding={p}) cannot take a {H}x{W} input")
        self._x = x = np.ascontiguousarray(x)
        self._inference_only = relu or affine is not None
        w = self.params["weight"]
        scale, bias = self._output_affine(affine, x.dtype)
        algorithm = self._algorithm(x)
        if algorithm == "winograd":
            y, self._U = winograd.conv3x3_forward(x, w, scale, bias, p, relu)
            return y
        y = np.empty((N, self.out_channels, Ho, Wo), dtype=x.dtype)
        if algorithm == "direct":
            parallel.for_each_chunk(lambda lo, hi: kernels.conv_direct_forward(x[lo:hi], w, scale, bias, p, relu,
                                                                               y[lo:hi]),
                                    N, parallel.chunk_size(N, 1))
        else:
            self._im2col_forward(x, y, scale, bias, relu)
        return y

    def _output_affine(self, affine, dtype):
        """(scale, bias) per output channel that the kernels apply as they write y (see the top of this page)."""
        b = self.params["bias"].astype(dtype, copy=False)
        if affine is None:
            return np.ones_like(b), b
        s, t = (np.asarray(v, dtype) for v in affine)
        return s, b * s + t

    def backward(self, dy):
        if self._inference_only:
            raise RuntimeError("Conv2D.backward after forward(relu=True) or forward(affine=...), which are for "
                               "inference only")
        x, w, p = self._x, self.params["weight"], self.padding
        dy = np.ascontiguousarray(dy)
        algorithm = self._algorithm(x)
        if algorithm == "winograd":
            dx, dw, db = winograd.conv3x3_backward(x, dy, self._U, p)
        else:
            dx = np.empty_like(x)
            chunk = self._direct_backward_chunk if algorithm == "direct" else self._im2col_backward_chunk
            images = parallel.chunk_size(x.shape[0], 1) if algorithm == "direct" else self._images_per_chunk(dy)
            dw, db = parallel.sum_over_chunks(lambda lo, hi: chunk(x[lo:hi], dy[lo:hi], dx[lo:hi]), x.shape[0], images)
        self.grads["weight"] += dw.reshape(w.shape)
        self.grads["bias"] += db
        return dx

    # --- im2col: a chunk of images at a time, one matrix product each -----------------------------

    def _im2col_forward(self, x, y, scale, bias, relu):
        N, C = x.shape[:2]
        k, s, p, F = self.kernel_size, self.stride, self.padding, self.out_channels
        K, P = C * k * k, y.shape[2] * y.shape[3]
        w_mat, y3 = self.params["weight"].reshape(F, K), y.reshape(N, F, P)
        if N < parallel.MIN_CHUNKS:
            # too few images to share out (a live frame's faces): one X_col, its product shared out by output
            # pixels (whole W, as BLAS likes it) where there are enough of them, else by filters
            cols = np.empty((K, N * P), dtype=x.dtype)
            kernels.im2col(x, k, k, s, p, cols.reshape(K, N, P))
            rows = np.empty((F, N * P), dtype=x.dtype)
            if N * P >= 2 * MIN_COLUMNS:
                parallel.for_each_chunk(lambda lo, hi: np.matmul(w_mat, cols[:, lo:hi], out=rows[:, lo:hi]),
                                        N * P, parallel.chunk_size(N * P, MIN_COLUMNS, MIN_COLUMNS))
                kernels.rows_to_nchw(rows.reshape(F, N, P), scale, bias, relu, y3)
                return

            def filter_block(lo, hi):
                np.matmul(w_mat[lo:hi], cols, out=rows[lo:hi])
                kernels.rows_to_nchw(rows[lo:hi].reshape(hi - lo, N, P), scale[lo:hi], bias[lo:hi], relu,
                                     y3[:, lo:hi])
            parallel.for_each_chunk(filter_block, F, parallel.chunk_size(F, 32))
            return

        def forward_chunk(lo, hi):
            cols = parallel.scratch("cols", (K, hi - lo, P), x.dtype)
            kernels.im2col(x[lo:hi], k, k, s, p, cols)
            rows = np.matmul(w_mat, cols.reshape(K, -1), out=parallel.scratch("rows", (F, (hi - lo) * P), x.dtype))
            kernels.rows_to_nchw(rows.reshape(F, hi - lo, P), scale, bias, relu, y3[lo:hi])

        parallel.for_each_chunk(forward_chunk, N, self._images_per_chunk(y))

    def _im2col_backward_chunk(self, x, dy, dx):
        """dx of these images, and their share of dL/dW and dL/db."""
        n, C = x.shape[:2]
        k, s, p, F = self.kernel_size, self.stride, self.padding, self.out_channels
        K, P = C * k * k, dy.shape[2] * dy.shape[3]
        cols = parallel.scratch("cols", (K, n, P), x.dtype)
        kernels.im2col(x, k, k, s, p, cols)
        cols = cols.reshape(K, -1)
        dy_rows = parallel.scratch("rows", (F, n * P), dy.dtype)
        kernels.nchw_to_rows(dy.reshape(n, F, P), dy_rows.reshape(F, n, P))
        w_mat = self.params["weight"].reshape(F, K)
        dcols = np.matmul(w_mat.T, dy_rows, out=parallel.scratch("dcols", (K, n * P), dy.dtype))
        kernels.col2im(dcols.reshape(K, n, P), k, k, s, p, dx)
        return np.matmul(dy_rows, cols.T, out=parallel.scratch("dw", (F, K), dy.dtype)), dy_rows.sum(axis=1)

    @staticmethod
    def _images_per_chunk(y):
        # enough output pixels per chunk (≥ 256 columns) for BLAS to run near its peak
        return parallel.chunk_size(y.shape[0], -(-256 // (y.shape[2] * y.shape[3])))

    # --- direct: one image at a time ------------------------------------------------------------------

    def _direct_backward_chunk(self, x, dy, dx):
        w, p = self.params["weight"], self.padding
        kernels.conv_direct_input_grad(dy, w, p, dx)
        dw = parallel.scratch("dw", w.shape, dy.dtype)
        kernels.conv_direct_filter_grad(x, dy, p, dw)
        return dw, dy.sum(axis=(0, 2, 3))

    def _algorithm(self, x):
        k, s, C = self.kernel_size, self.stride, self.in_channels
        if self.algorithm == "auto":
            tiles = x.shape[0] * winograd.tile_count(x.shape[2], x.shape[3], self.padding)
            if k == 3 and s == 1 and C >= WINOGRAD_MIN_CHANNELS and tiles >= winograd.TILES_PER_CHUNK:
                return "winograd"
            return "direct" if s == 1 and C * k * k <= DIRECT_MAX_TAPS else "im2col"
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"Conv2D.algorithm must be one of {', '.join(ALGORITHMS)}, got {self.algorithm!r}")
        if self.algorithm == "winograd" and not (k == 3 and s == 1):
            raise ValueError("Conv2D.algorithm 'winograd' needs a 3x3 kernel with stride 1")
        if self.algorithm == "direct" and s != 1:
            raise ValueError("Conv2D.algorithm 'direct' needs stride 1")
        return self.algorithm
