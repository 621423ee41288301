"""minicnn's thread pool: every chunk once, errors raised, BLAS given back, results independent of the threads."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import minicnn
from minicnn import layers as L
from minicnn import conv_cpu, optim, parallel
from minicnn.losses import SoftmaxCrossEntropy

from .helpers import ROOT


@pytest.fixture
def threads():
    """Set the pool's size for one test, and put the default back afterwards."""
    yield minicnn.set_num_threads
    minicnn.set_num_threads(parallel.default_num_threads())


@pytest.mark.parametrize("n,chunk,count", [(10, 3, 1), (10, 3, 3), (64, 1, 2), (1, 5, 2), (0, 4, 2)])
def test_every_index_is_visited_exactly_once(threads, n, chunk, count):
    threads(count)
    seen = np.zeros(n, int)

    def visit(lo, hi):
        assert hi - lo <= chunk
        seen[lo:hi] += 1
    parallel.for_each_chunk(visit, n, chunk)
    assert (seen == 1).all()


def test_an_error_in_a_chunk_reaches_the_caller(threads):
    threads(2)

    def fail_on_five(lo, hi):
        if lo <= 5 < hi:
            raise KeyError("chunk with 5")
    with pytest.raises(KeyError, match="chunk with 5"):
        parallel.for_each_chunk(fail_on_five, 16, 1)


def test_the_helpers_do_work_and_a_forked_child_starts_its_own(threads):
    """Chunks run on the helper threads too, not only the caller's; a child forked after the helpers started
    (which inherits none of them) runs its loops on helpers of its own instead of waiting on the parent's."""
    threads(2)
    parallel.for_each_chunk(lambda lo, hi: None, 4, 1)          # the parent's helpers are running now
    names, gate = set(), threading.Barrier(2, timeout=10)

    def meet(lo, hi):                  # two chunks that can only finish together, on two threads
        names.add(threading.current_thread().name)
        gate.wait()
    parallel.for_each_chunk(meet, 2, 1)
    assert len(names) == 2
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:                       # the child: the same two-thread loop, then its answer through the pipe
        try:
            gate.reset()
            parallel.for_each_chunk(meet, 2, 1)
            os.write(write, b"ok")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 2)
    os.waitpid(pid, 0)
    assert answer == b"ok"


def blas_threads():
    """Threads of the BLAS that NumPy's matrix products use (PyTorch or SciPy may bring others)."""
    return [lib.get() for lib in parallel.numpy_blas()]


def test_blas_runs_single_threaded_inside_a_loop_and_is_given_back(threads):
    threads(2)
    before, inside = blas_threads(), []
    parallel.for_each_chunk(lambda lo, hi: inside.append(blas_threads()), 4, 1)
    assert inside and all(t == [1] * len(before) for t in inside)
    assert blas_threads() == before


def test_loops_started_from_other_threads_give_the_same_bits(threads):
    """BLAS is single-threaded inside loops started from any thread, alone or at the same time."""
    threads(2)
    rng = np.random.default_rng(3)
    layers = [L.Dense(4608, 256, rng=i) for i in range(2)]   # big enough for BLAS to use threads if let
    xs = [rng.standard_normal((16, 4608)).astype(np.float32) for _ in range(2)]
    expected = [layer.forward(x) for layer, x in zip(layers, xs)]
    mismatches = []

    def run(i):
        mismatches.extend(i for _ in range(20) if not np.array_equal(layers[i].forward(xs[i]), expected[i]))
    workers = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert mismatches == []


def test_sum_over_chunks_adds_in_a_fixed_order(threads):
    rng = np.random.default_rng(0)
    parts = (rng.standard_normal((37, 5)) * 10.0 ** rng.integers(-6, 6, (37, 1))).astype(np.float32)
    sums = []
    for count in (1, 2, 3):
        threads(count)
        sums.append(parallel.sum_over_chunks(lambda lo, hi: (parts[lo:hi].sum(axis=0),), 37, 2)[0])
    assert np.array_equal(sums[0], sums[1]) and np.array_equal(sums[0], sums[2])
    assert np.allclose(sums[0], parts.astype(np.float64).sum(axis=0), rtol=1e-4, atol=1e-3)


def train_steps(count):
    """Parameters after three SGD steps of a net with every kind of convolution, on `count` threads."""
    minicnn.set_num_threads(count)
    rng = np.random.default_rng(1)
    model = minicnn.Sequential([
        L.Conv2D(1, 8, 3, padding=1, rng=rng), L.BatchNorm2D(8), L.ReLU(), L.MaxPool2D(2),   # direct
        L.Conv2D(8, 16, 3, padding=1, rng=rng), L.ReLU(),                                   # Winograd
        L.Conv2D(16, 8, 3, stride=2, rng=rng), L.ReLU(),                                    # im2col
        L.Flatten(), L.Dense(8 * 3 * 3, 7, rng=rng)])
    x = rng.standard_normal((40, 1, 16, 16)).astype(np.float32)
    y = rng.integers(0, 7, 40)
    loss, opt = SoftmaxCrossEntropy(), optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(3):
        loss.forward(model.forward(x, training=True), y)
        opt.zero_grad()
        model.backward(loss.backward())
        opt.step()
    return [value.copy() for value, _ in model.parameters()]


def test_training_gives_the_same_bits_on_any_number_of_threads(threads):
    one, two, three = train_steps(1), train_steps(2), train_steps(3)
    assert all(np.array_equal(a, b) and np.array_equal(a, c) for a, b, c in zip(one, two, three))


IMPORT_SCRIPT = """
import ctypes, os, sys
import numpy, threadpoolctl
env = dict(os.environ)
pools = {p["filepath"]: p["num_threads"] for p in threadpoolctl.threadpool_info()}
libc, cdll = [], ctypes.CDLL
def spy(name, *args, **kwargs):              # glibc's allocator is set through ctypes (runtime.keep_freed_memory)
    if name and "libc" in os.path.basename(str(name)):
        libc.append(name)
    return cdll(name, *args, **kwargs)
ctypes.CDLL = spy
import minicnn, fer_app
ctypes.CDLL = cdll
changed = sorted(k for k in set(os.environ) | set(env) if os.environ.get(k) != env.get(k))
now = {p["filepath"]: p["num_threads"] for p in threadpoolctl.threadpool_info()}
changed += [f"threads of {path}" for path in pools if now.get(path) != pools[path]]
changed += [f"libc opened ({name})" for name in libc]
sys.exit("; ".join(changed) or 0)
"""


def test_import_changes_no_process_wide_setting():
    """`import minicnn, fer_app` touches no environment variable, no thread pool already loaded (BLAS) and
    not the allocator (glibc is not even opened for mallopt)."""
    script = IMPORT_SCRIPT
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("OMP_WAIT_POLICY", None)
    env.pop("OPENBLAS_THREAD_TIMEOUT", None)
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_predict_folds_batchnorm_and_relu_into_the_layer_before(monkeypatch):
    """Every convolution algorithm (direct, Winograd, im2col) and Dense take the BatchNorm and ReLU after them:
    predict equals forward with those layers never called, and backward is refused after it."""
    rng = np.random.default_rng(2)
    model = minicnn.Sequential([
        L.Conv2D(1, 8, 3, padding=1, rng=rng), L.BatchNorm2D(8), L.ReLU(),           # direct
        L.Conv2D(8, 16, 3, padding=1, rng=rng), L.BatchNorm2D(16),                     # Winograd, no ReLU after
        L.Conv2D(16, 8, 3, stride=2, padding=1, rng=rng), L.BatchNorm2D(8), L.ReLU(),  # im2col
        L.Flatten(), L.Dense(8 * 8 * 8, 16, rng=rng), L.BatchNorm1D(16), L.ReLU(), L.Dense(16, 3, rng=rng)])
    for bn in (layer for layer in model.layers if isinstance(layer, (L.BatchNorm2D, L.BatchNorm1D))):
        bn.buffers["running_mean"][...] = rng.standard_normal(bn.num_features)
        bn.buffers["running_var"][...] = rng.uniform(0.5, 2.0, bn.num_features)
        bn.params["gamma"][...] = rng.uniform(0.5, 1.5, bn.num_features)
        bn.params["beta"][...] = rng.standard_normal(bn.num_features)
    x = rng.standard_normal((8, 1, 16, 16)).astype(np.float32)
    assert [conv_cpu.choose(model.layers[i], h) for i, h in ((0, x), (3, np.empty((8, 8, 16, 16), np.float32)),
                                                       (5, np.empty((8, 16, 16, 16), np.float32)))] \
        == ["direct", "winograd", "im2col"]
    expected = model.forward(x)

    def not_called(self, *args, **kwargs):
        raise AssertionError(f"{type(self).__name__}.forward ran: predict should have folded it")
    for cls in (L.BatchNorm2D, L.BatchNorm1D, L.ReLU):
        monkeypatch.setattr(cls, "forward", not_called)
    got = model.predict(x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    with pytest.raises(RuntimeError, match="inference only"):
        model.backward(np.ones((8, 3), np.float32))


def test_a_predictor_transforms_the_filters_once_and_keeps_the_weights_it_was_made_with(monkeypatch):
    """model.predictor(): predict's answers; Winograd on one image, its filters transformed on the first call
    only; max-pooling without winners (no backward follows); later changes to the model do not reach it."""
    from minicnn import winograd
    rng = np.random.default_rng(4)
    model = minicnn.Sequential([
        L.Conv2D(1, 8, 3, padding=1, rng=rng), L.BatchNorm2D(8), L.ReLU(), L.MaxPool2D(2),
        L.Conv2D(8, 16, 3, padding=1, rng=rng), L.BatchNorm2D(16), L.ReLU(), L.MaxPool2D(2),
        L.Flatten(), L.Dense(16 * 4 * 4, 3, rng=rng)])
    x = rng.standard_normal((1, 1, 16, 16)).astype(np.float32)
    assert conv_cpu.choose(model.layers[4], np.empty((1, 8, 8, 8), np.float32)) == "im2col"  # 16 tiles: too few
    transforms = []
    transform = winograd.transform_filters
    monkeypatch.setattr(winograd, "transform_filters", lambda w, m=2: transforms.append(m) or transform(w, m))
    predictor = model.predictor()
    expected = model.forward(x)
    for _ in range(2):
        np.testing.assert_allclose(predictor.predict(x), expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
        assert transforms == [winograd.tile_size(8, 8)]       # the 8→16 convolution's, on the first call alone
    with pytest.raises(RuntimeError, match="inference only"):
        predictor.steps[1][0].backward(np.ones((1, 8, 8, 8), np.float32))       # the first MaxPool2D
    model.layers[4].params["weight"] *= 2
    model.layers[5].buffers["running_mean"] += 1
    np.testing.assert_array_equal(predictor.predict(x), predictor.predict(x))
    np.testing.assert_allclose(predictor.predict(x), expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    changed = model.forward(x)
    assert np.abs(changed - expected).max() > 0.1
    np.testing.assert_allclose(model.predictor().predict(x), changed, rtol=1e-5, atol=1e-5 * np.abs(changed).max())


def test_a_small_product_of_one_image_stays_on_one_core_and_a_large_one_is_shared(monkeypatch):
    """Batch 1: a convolution or Dense product below SHARING_MIN_MULTIPLY_ADDS is one chunk (no second core woken),
    one above it several; the answer is the same either way.  (The 24x24 layer runs Winograd: each of its loops,
    the filters' transform, the tiles and the products, is one chunk.)"""
    loops = []
    share = parallel.for_each_chunk

    def recording(fn, n, chunk):
        loops.append(-(-n // chunk))
        share(fn, n, chunk)
    monkeypatch.setattr(parallel, "for_each_chunk", recording)
    rng = np.random.default_rng(3)
    small, large = L.Conv2D(32, 64, 3, padding=1, rng=rng), L.Conv2D(256, 256, 3, padding=1, rng=rng)
    for layer, H, expected in ((small, 24, {1}), (large, 6, {8})):     # 10.6 M and 21 M multiply-adds
        x = rng.standard_normal((1, layer.in_channels, H, H)).astype(np.float32)
        loops.clear()
        y = layer.forward(x)
        assert set(loops) == expected
        np.testing.assert_allclose(y, convolution_by_definition(x, layer.params["weight"], layer.params["bias"], 1, 1),
                                   rtol=1e-4, atol=1e-4)
    loops.clear()
    L.Dense(2304, 256, rng=rng).forward(rng.standard_normal((1, 2304)).astype(np.float32))
    assert loops == [1]


def test_the_products_of_a_single_winograd_chunk_are_shared_out_by_point_with_the_same_bits(monkeypatch):
    """A batch that is one chunk (the live path's 10 images at 6x6) shares its products out by Winograd point
    above SHARED_PRODUCT_MULTIPLY_ADDS; each point's product is the one it was, so the output keeps its bits."""
    from minicnn import winograd
    rng = np.random.default_rng(5)
    layer = L.Conv2D(64, 64, 3, padding=1, rng=rng)
    layer.algorithm = "winograd3x3"
    x = rng.standard_normal((10, 64, 6, 6)).astype(np.float32)
    assert winograd.images_per_chunk(10, 4, 3) >= 10          # one chunk
    loops = []
    share = parallel.for_each_chunk

    def recording(fn, n, chunk):
        loops.append((n, chunk))
        share(fn, n, chunk)
    monkeypatch.setattr(parallel, "for_each_chunk", recording)
    outputs = []
    for least in (float("inf"), 0):
        monkeypatch.setattr(winograd, "SHARED_PRODUCT_MULTIPLY_ADDS", least)
        loops.clear()
        outputs.append(layer.forward(x))
        assert (25, 25 if least else 13) in loops               # the 25 points: whole, or in two halves
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_predict_leaves_a_batchnorm_of_another_size_to_say_so():
    model = minicnn.Sequential([L.Conv2D(1, 4, 3), L.BatchNorm2D(1)])
    with pytest.raises(ValueError, match=r"BatchNorm2D\(1\) got input of shape"):
        model.predict(np.zeros((1, 1, 5, 5), np.float32))


@pytest.mark.parametrize("arch", ["small", "vgg"])
def test_an_empty_batch_gives_an_empty_answer(arch):
    from fer_app import models
    model = models.build(arch, np.random.default_rng(0))
    assert model.predict(np.zeros((0, 1, 48, 48), np.float32)).shape == (0, 7)


def convolution_by_definition(x, w, b, stride, pad):
    """y[n, f, i, j] = b[f] + Σ_{c, u, v} w[f, c, u, v] · xp[n, c, i·s + u, j·s + v], in float64."""
    N, C, H, W = x.shape
    F, _, k, _ = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    Ho, Wo = (H + 2 * pad - k) // stride + 1, (W + 2 * pad - k) // stride + 1
    y = np.empty((N, F, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            window = xp[:, :, i * stride:i * stride + k, j * stride:j * stride + k]
            y[:, :, i, j] = np.einsum("ncuv,fcuv->nf", window, w) + b
    return y


@pytest.mark.parametrize("N,C,F,H,stride,path", [
    (2, 1, 8, 12, 1, "direct"), (16, 8, 8, 8, 1, "winograd"), (9, 4, 6, 7, 2, "im2col"),
    (32, 8, 8, 6, 1, "winograd"),   # 6x6 outputs: F(2x2, 3x3) (8x8 above: F(4x4, 3x3))
    (1, 4, 6, 24, 1, "im2col"),     # one image, enough output pixels: its product shared out by pixels
    (1, 4, 40, 6, 1, "im2col"),     # one image, few pixels: shared out by filters
    (2, 16, 8, 12, 1, "im2col")])   # a few images (Winograd would have too few tiles)
def test_every_convolution_path_computes_the_definition(N, C, F, H, stride, path):
    rng = np.random.default_rng(7)
    layer = L.Conv2D(C, F, 3, stride=stride, padding=1, rng=rng)
    layer.params["bias"][...] = rng.standard_normal(F)
    x = rng.standard_normal((N, C, H, H)).astype(np.float32)
    assert conv_cpu.choose(layer, x) == path
    expected = convolution_by_definition(x, layer.params["weight"], layer.params["bias"], stride, 1)
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-4, atol=1e-4)
    s, t = rng.uniform(0.5, 2, F), rng.standard_normal(F)          # with a BatchNorm's affine folded in, and ReLU
    folded = layer.forward(x, relu=True, affine=(s, t))
    np.testing.assert_allclose(folded, np.maximum(expected * s[:, None, None] + t[:, None, None], 0),
                               rtol=1e-4, atol=1e-4)
