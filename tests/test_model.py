"""Sequential, save/load, dtypes, and proof that the whole training loop learns."""
import json
import time
from pathlib import Path

import numpy as np
import pytest

import minicnn
from minicnn import Sequential, load, optim
from minicnn import layers as L
from minicnn.losses import SoftmaxCrossEntropy


def small_net(rng, classes=4):
    return Sequential([
        L.Conv2D(1, 8, 3, padding=1, rng=rng), L.BatchNorm2D(8), L.ReLU(), L.MaxPool2D(2),
        L.Conv2D(8, 16, 3, padding=1, rng=rng), L.ReLU(), L.AvgPool2D(2),
        L.Conv2D(16, 16, 3, padding=1, rng=rng), L.LeakyReLU(0.1), L.GlobalAvgPool2D(),
        L.Dropout(0.2, rng=rng), L.Dense(16, 16, rng=rng), L.BatchNorm1D(16), L.ReLU(),
        L.Dense(16, classes, rng=rng)])


def bars(n, rng, size=16):
    """Images of a bright bar in one of four orientations on noise: label = orientation."""
    labels = rng.integers(0, 4, n)
    x = rng.normal(0, 0.3, (n, 1, size, size)).astype(np.float32)
    r = np.arange(size)
    for i, lab in enumerate(labels):
        o = rng.integers(3, size - 3)
        if lab == 0:
            x[i, 0, o, :] += 2
        elif lab == 1:
            x[i, 0, :, o] += 2
        elif lab == 2:
            x[i, 0, r, r] += 2
        else:
            x[i, 0, r, size - 1 - r] += 2
    return x, labels


def test_small_net_learns_quickly():
    rng = np.random.default_rng(0)
    model = small_net(rng)
    x, y = bars(512, rng)
    loss_fn, opt = SoftmaxCrossEntropy(), optim.Adam(model.parameters(), lr=3e-3)
    start = time.perf_counter()
    for epoch in range(8):
        for i in range(0, len(x), 32):
            logits = model.forward(x[i:i + 32], training=True)
            loss_fn.forward(logits, y[i:i + 32])
            opt.zero_grad()
            model.backward(loss_fn.backward())
            opt.step()
    accuracy = (model.forward(x).argmax(1) == y).mean()
    print(f"train accuracy {accuracy:.3f} in {time.perf_counter() - start:.1f} s")
    assert accuracy >= 0.95


def test_float32_end_to_end():
    rng = np.random.default_rng(1)
    model = small_net(rng)
    x = rng.standard_normal((4, 1, 16, 16)).astype(np.float32)
    for layer in model.layers:
        y = layer.forward(x, training=True)
        assert y.dtype == np.float32, type(layer).__name__
        dx = layer.backward(np.ones_like(y))
        assert dx.dtype == np.float32, type(layer).__name__
        assert all(g.dtype == np.float32 for g in layer.grads.values())
        x = y
    loss = SoftmaxCrossEntropy(0.1, [1, 2, 3, 4])
    loss.forward(x, np.array([0, 1, 2, 3]))
    assert loss.backward().dtype == np.float32


def test_save_load_round_trip_is_bit_exact(tmp_path):
    rng = np.random.default_rng(2)
    model = small_net(rng)
    x = rng.standard_normal((8, 1, 16, 16)).astype(np.float32)
    model.forward(x, training=True)          # moves the BatchNorm running statistics
    path = tmp_path / "m.npz"
    model.save(path, metadata={"classes": ["a", "b", "c", "d"], "mean": 0.5})
    loaded = load(path)
    assert loaded.metadata == {"classes": ["a", "b", "c", "d"], "mean": 0.5}
    assert loaded.architecture() == model.architecture()
    assert np.array_equal(loaded.forward(x), model.forward(x))
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def test_saved_files_get_the_usual_permissions(tmp_path):
    import os
    path = tmp_path / "m.npz"
    small_net(np.random.default_rng(6)).save(path)
    mask = os.umask(0)
    os.umask(mask)
    assert (path.stat().st_mode & 0o777) == 0o666 & ~mask


def test_summary_lists_shapes_and_counts():
    text = small_net(np.random.default_rng(3)).summary((1, 16, 16))
    assert "(8, 16, 16)" in text and "(16,)" in text
    # by hand: conv 1·8·9+8, BN 2·8, conv 8·16·9+16, conv 16·16·9+16, dense 16·16+16, BN 2·16, dense 16·4+4
    assert text.splitlines()[-1].split() == ["total", f"{80 + 16 + 1168 + 2320 + 272 + 32 + 68:,}"]


def test_summary_columns_stay_apart_for_long_layer_descriptions():
    model = Sequential([L.Conv2D(1, 8, 3, stride=1, padding=1), L.Flatten(), L.Dense(8 * 6 * 6, 7)])
    rows = model.summary((1, 6, 6)).splitlines()[2:5]
    assert all("  (" in row for row in rows)      # at least two spaces before every output shape


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "m.npz"
    small_net(np.random.default_rng(4)).save(path)
    return path


def test_truncated_file_is_refused(saved, tmp_path):
    bad = tmp_path / "truncated.npz"
    bad.write_bytes(saved.read_bytes()[:200])
    with pytest.raises(minicnn.ModelFileError, match="truncated"):
        load(bad)


def test_foreign_file_is_refused(tmp_path):
    bad = tmp_path / "photo.npz"
    bad.write_bytes(b"\x89PNG\r\n not a model")
    with pytest.raises(minicnn.ModelFileError):
        load(bad)
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.zeros(3))
    with pytest.raises(minicnn.ModelFileError, match="not a minicnn model"):
        load(plain)
    with pytest.raises(minicnn.ModelFileError, match="no such file"):
        load(tmp_path / "missing.npz")


def test_unknown_layer_and_object_arrays_are_refused(saved, tmp_path):
    arrays = dict(np.load(saved))
    arch = json.loads(str(arrays["__arch__"]))
    arch[0]["type"] = "EvilLayer"
    bad = tmp_path / "unknown.npz"
    np.savez(bad, **dict(arrays, __arch__=np.array(json.dumps(arch))))
    with pytest.raises(minicnn.ModelFileError, match="unknown layer type 'EvilLayer'"):
        load(bad)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, **dict(arrays, __meta__=np.array([{"x": 1}], dtype=object)))
    with pytest.raises(minicnn.ModelFileError, match="Python objects"):
        load(pickled)


def test_params_are_live_views():
    layer = L.Dense(2, 1)
    layer.params["weight"][...] = [[1.0], [2.0]]
    layer.params["bias"][...] = 0.5
    assert layer.forward(np.array([[1.0, 1.0]], np.float32))[0, 0] == pytest.approx(3.5)


def test_batchnorm_running_statistics_follow_pytorch_convention():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 3, 2, 2)).astype(np.float32) * 3 + 1
    bn = L.BatchNorm2D(3, momentum=0.1)
    bn.forward(x, training=True)
    per_channel = x.transpose(1, 0, 2, 3).reshape(3, -1)
    assert np.allclose(bn.buffers["running_mean"], 0.1 * per_channel.mean(1), atol=1e-6)
    assert np.allclose(bn.buffers["running_var"], 0.9 + 0.1 * per_channel.var(1, ddof=1), atol=1e-5)


def test_backward_adds_to_the_gradients_until_zero_grad():
    """Two forward/backward pairs through one layer leave the sum of both gradients (PyTorch's rule)."""
    rng = np.random.default_rng(4)
    layer = L.Dense(6, 3, rng=rng)
    x1, x2, d1, d2 = rng.standard_normal((4, 6)), rng.standard_normal((4, 6)), rng.standard_normal((4, 3)), \
        rng.standard_normal((4, 3))
    layer.astype(np.float64)
    layer.forward(x1)
    layer.backward(d1)
    layer.forward(x2)
    layer.backward(d2)
    np.testing.assert_allclose(layer.grads["weight"], x1.T @ d1 + x2.T @ d2)
    np.testing.assert_allclose(layer.grads["bias"], d1.sum(0) + d2.sum(0))
    layer.zero_grad()
    assert not layer.grads["weight"].any() and not layer.grads["bias"].any()


def test_a_batchnorm_applies_the_relu_after_it_with_the_same_numbers_as_the_two_layers():
    """Sequential.forward leaves a ReLU after a BatchNorm to the BatchNorm, in training and at inference; the
    outputs, dL/dx, every gradient and the running statistics equal the layers run one by one, bit for bit,
    including where the BatchNorm's output is exactly 0 (the ReLU's kink)."""
    rng = np.random.default_rng(21)
    x = rng.integers(-1, 2, (8, 2, 4, 4)).astype(np.float32)
    x[:, :, :2] = -x[:, :, 2:]               # each channel sums to 0: mean 0, and y = 0 exactly where x = 0
    for training in (True, False):
        models = [Sequential([L.Conv2D(2, 3, 1, rng=np.random.default_rng(0)), L.BatchNorm2D(3), L.ReLU(),
                              L.Flatten(), L.Dense(48, 6, rng=np.random.default_rng(1)), L.BatchNorm1D(6), L.ReLU(),
                              L.Dense(6, 3, rng=np.random.default_rng(2))]) for _ in range(2)]
        for m in models:
            m.layers[0].params["weight"][...] = np.eye(3, 2).reshape(3, 2, 1, 1)   # channel 3 all zeros
            m.layers[0].params["bias"][...] = 0
        fused, separate = models
        dy = rng.standard_normal((8, 3)).astype(np.float32)
        (out, dx), (h, d), outputs = fused_and_one_by_one(fused, separate, x, dy, training)
        assert np.array_equal(out, h) and np.array_equal(dx, d)
        for a, b in zip(fused.state_dict().values(), separate.state_dict().values()):
            assert np.array_equal(a, b)
        for (_, ga), (_, gb) in zip(fused.parameters(), separate.parameters()):
            assert np.array_equal(ga, gb)
        assert (outputs[1] == 0).any() and (outputs[1] < 0).any()     # the kink was met, not only negatives


def test_a_layer_cannot_appear_twice_in_a_sequential():
    shared = L.Dense(6, 6)
    with pytest.raises(ValueError, match="a layer appears twice"):
        Sequential([shared, L.ReLU(), shared])
    with pytest.raises(ValueError, match="a layer appears twice"):
        Sequential([shared, L.Residual([L.ReLU(), shared])])


def test_two_half_batches_accumulate_to_the_full_batch_gradient():
    rng = np.random.default_rng(7)
    model = Sequential([L.Conv2D(1, 4, 3, padding=1, rng=rng), L.ReLU(), L.Flatten(), L.Dense(4 * 6 * 6, 3, rng=rng)])
    x, labels = rng.standard_normal((8, 1, 6, 6)).astype(np.float32), rng.integers(0, 3, 8)
    loss = SoftmaxCrossEntropy()
    loss.forward(model.forward(x, training=True), labels)
    model.zero_grad()
    model.backward(loss.backward())
    full = [g.copy() for _, g in model.parameters()]
    model.zero_grad()
    for half in (slice(0, 4), slice(4, 8)):                   # each half's mean loss: half the full batch's weight
        loss.forward(model.forward(x[half], training=True), labels[half])
        model.backward(loss.backward())
    for (_, accumulated), g in zip(model.parameters(), full):
        np.testing.assert_allclose(accumulated, 2 * g, rtol=1e-4, atol=1e-6)


def test_an_optimizer_built_before_astype_updates_the_converted_model():
    model = small_net(np.random.default_rng(8))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, labels = bars(8, np.random.default_rng(9))
    loss = SoftmaxCrossEntropy()
    for dtype in (np.float32, np.float64):
        model.astype(dtype)
        before = [v.copy() for v, _ in model.parameters()]
        loss.forward(model.forward(x.astype(dtype), training=True), labels)
        opt.zero_grad()
        model.backward(loss.backward())
        opt.step()
        assert all(v.dtype == dtype and not np.array_equal(v, b) for (v, _), b in zip(model.parameters(), before)
                   if v.ndim > 1)
    assert all(s["momentum"].dtype == np.float64 for s in opt.state)


def test_a_training_state_resumes_exactly_without_fer_app(tmp_path):
    """minicnn.serialization alone: stop after 3 steps, save, rebuild, load, 3 more = 6 steps straight.
    (No dropout here: its random stream is the caller's to keep, as fer_app's trainer does.)"""
    def setup():
        rng = np.random.default_rng(10)
        model = Sequential([L.Conv2D(1, 4, 3, padding=1, rng=rng), L.BatchNorm2D(4), L.ReLU(), L.MaxPool2D(2),
                            L.Flatten(), L.Dense(4 * 8 * 8, 4, rng=rng)])
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        return model, opt, optim.StepLR(opt, step_size=1, gamma=0.5)

    x, labels = bars(16, np.random.default_rng(11))
    loss = SoftmaxCrossEntropy()

    def steps(model, opt, schedule, n):
        for _ in range(n):
            loss.forward(model.forward(x, training=True), labels)
            opt.zero_grad()
            model.backward(loss.backward())
            opt.step()
            schedule.step()

    straight = setup()
    steps(*straight, 6)
    first = setup()
    steps(*first, 3)
    soft_targets = np.random.default_rng(12).random((16, 4), dtype=np.float32)
    minicnn.serialization.save_training(tmp_path / "t.npz", *first, state={"step": 3},
                                        caller_arrays={"soft_targets": soft_targets})
    assert np.array_equal(minicnn.serialization.read_training(tmp_path / "t.npz")[1]["caller"]["soft_targets"],
                          soft_targets)
    second = setup()
    assert minicnn.serialization.load_training(tmp_path / "t.npz", *second) == {"step": 3}
    steps(*second, 3)
    for a, b in zip(straight[0].state_dict().values(), second[0].state_dict().values()):
        assert np.array_equal(a, b)
    other = Sequential([L.Flatten(), L.Dense(256, 4)])
    with pytest.raises(minicnn.ModelFileError, match="t.npz: the training state does not fit"):
        minicnn.serialization.load_training(tmp_path / "t.npz", other, optim.SGD(other.parameters(), lr=0.1))


def inputs_of(model, x, kind):
    """What each layer of type ``kind`` receives when the model runs x at inference."""
    seen = []
    for layer in model.layers:
        if isinstance(layer, kind):
            seen.append(x)
        x = layer.forward(x)
    return seen


def test_recomputed_batchnorm_statistics_are_those_of_the_inputs_at_inference():
    rng = np.random.default_rng(0)
    model = small_net(rng)
    x = rng.normal(1.0, 2.0, (50, 1, 16, 16)).astype(np.float32)
    params = [v.copy() for v, _ in model.parameters()]
    assert model.recompute_batchnorm_statistics(x, batch_size=64) == 2       # one batch: statistics of all of x
    bn2d, bn1d = [layer for layer in model.layers if isinstance(layer, (L.BatchNorm2D, L.BatchNorm1D))]
    into2d, = inputs_of(model, x, L.BatchNorm2D)
    into1d, = inputs_of(model, x, L.BatchNorm1D)                        # after a Dropout: it stayed off
    np.testing.assert_allclose(bn2d.buffers["running_mean"], into2d.mean(axis=(0, 2, 3)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn2d.buffers["running_var"], into2d.transpose(1, 0, 2, 3).reshape(8, -1).var(1, ddof=1),
                               rtol=1e-4)
    np.testing.assert_allclose(bn1d.buffers["running_mean"], into1d.mean(axis=0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(bn1d.buffers["running_var"], into1d.var(axis=0, ddof=1), rtol=1e-4)
    assert all(np.array_equal(before, now) for before, (now, _) in zip(params, model.parameters()))
    assert bn2d.momentum == bn1d.momentum == 0.1                        # restored


def test_recomputed_batchnorm_statistics_weigh_each_batch_by_its_size():
    rng = np.random.default_rng(1)
    model = small_net(rng)
    x = rng.normal(0.5, 1.5, (45, 1, 16, 16)).astype(np.float32)
    model.recompute_batchnorm_statistics(x, batch_size=20)             # batches of 20, 20 and 5
    bn = model.layers[1]
    into, = inputs_of(model, x, L.BatchNorm2D)                          # the first BatchNorm: no other one before it
    per_channel = into.transpose(1, 0, 2, 3)
    batches = [per_channel[:, i:i + 20].reshape(8, -1) for i in (0, 20, 40)]
    np.testing.assert_allclose(bn.buffers["running_mean"], per_channel.reshape(8, -1).mean(1), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(bn.buffers["running_var"],
                               sum(b.var(1, ddof=1) * n for b, n in zip(batches, (20, 20, 5))) / 45, rtol=1e-4)


def test_an_atomic_write_that_fails_leaves_no_file_and_names_the_one_asked_for(tmp_path):
    from minicnn.serialization import write_atomically

    def fails(tmp):
        with open(tmp, "w") as f:
            f.write("half")
        raise OSError(28, "No space left on device", tmp)
    with pytest.raises(OSError) as info:
        write_atomically(tmp_path / "out.json", fails)
    assert info.value.filename == str(tmp_path / "out.json") and list(tmp_path.iterdir()) == []
    write_atomically(tmp_path / "out.json", lambda tmp: Path(tmp).write_text("whole"))
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"] and (tmp_path / "out.json").read_text() == "whole"


def test_a_maxpool_applies_the_relu_before_it_with_the_same_numbers_as_the_two_layers():
    """In training Sequential.forward hands a ReLU → MaxPool2D pair to the pool (max(relu(x)) = relu(max(x))):
    the output, dL/dx and every gradient equal the layers run one by one, bit for bit, with windows whose max is
    negative, exactly 0 and positive."""
    rng = np.random.default_rng(22)
    x = rng.integers(-2, 2, (6, 2, 6, 6)).astype(np.float32)
    models = [Sequential([L.Conv2D(2, 3, 1, rng=np.random.default_rng(0)), L.ReLU(), L.MaxPool2D(2), L.Flatten(),
                          L.Dense(27, 4, rng=np.random.default_rng(1))]) for _ in range(2)]
    for m in models:
        m.layers[0].params["weight"][...] = np.eye(3, 2).reshape(3, 2, 1, 1)     # integer outputs: ties and zeros
        m.layers[0].params["bias"][...] = 0
    fused, separate = models
    dy = rng.standard_normal((6, 4)).astype(np.float32)
    (out, dx), (h, d), _ = fused_and_one_by_one(fused, separate, x, dy)
    assert [type(layer) for layer in fused._ran] == [L.Conv2D, L.MaxPool2D, L.Flatten, L.Dense]
    assert np.array_equal(out, h) and np.array_equal(dx, d)
    pooled_input = separate.layers[0].forward(x, training=True)
    windows = pooled_input.reshape(6, 3, 3, 2, 3, 2).max(axis=(3, 5))
    assert (windows < 0).any() and (windows == 0).any() and (windows > 0).any()
    for a, b in zip(fused.state_dict().values(), separate.state_dict().values()):
        assert np.array_equal(a, b)
    for a, b in zip(fused.layers, separate.layers):
        for name in a.grads:
            assert np.array_equal(a.grads[name], b.grads[name])


def test_a_batchnorm_before_a_relu_and_a_max_pool_does_all_three_with_the_numbers_of_the_three_layers():
    """In training Sequential.forward hands BatchNorm2D → ReLU → 2×2 MaxPool2D to the BatchNorm (its affine is
    monotone in x: a window's largest x, or smallest where γ < 0, gives its largest output).  Output, running
    statistics and dL/dx equal the three layers run one by one; every gradient to float rounding."""
    rng = np.random.default_rng(24)
    x = rng.standard_normal((5, 2, 9, 8)).astype(np.float32)          # 9 rows: the last one in no window
    dy = rng.standard_normal((5, 4)).astype(np.float32)
    models = [Sequential([L.Conv2D(2, 4, 3, padding=1, rng=np.random.default_rng(0)), L.BatchNorm2D(4), L.ReLU(),
                          L.MaxPool2D(2), L.Flatten(), L.Dense(4 * 4 * 4, 4, rng=np.random.default_rng(1))])
              for _ in range(2)]
    for m in models:
        m.layers[1].params["gamma"][...] = [1.5, -0.7, 0.0, 0.4]      # γ of both signs, and 0
        m.layers[1].params["beta"][...] = [0.1, 0.2, 0.3, -0.2]
    fused, separate = models
    (out, dx), (h, d), _ = fused_and_one_by_one(fused, separate, x, dy)
    assert [type(layer) for layer in fused._ran] == [L.Conv2D, L.BatchNorm2D, L.Flatten, L.Dense]
    assert np.array_equal(out, h)
    np.testing.assert_allclose(dx, d, rtol=1e-5, atol=1e-6 * np.abs(d).max())
    for a, b in zip(fused.state_dict().values(), separate.state_dict().values()):
        assert np.array_equal(a, b)
    # rounding measured against the largest gradient: the convolution's bias gradient is 0 in exact arithmetic (the
    # BatchNorm takes out any constant), so all that is left of it is rounding
    largest = max(np.abs(layer.grads[name]).max() for layer in separate.layers for name in layer.grads)
    for a, b in zip(fused.layers, separate.layers):
        for name in a.grads:
            np.testing.assert_allclose(a.grads[name], b.grads[name], rtol=1e-5, atol=1e-6 * largest)


def test_training_skips_the_gradient_of_the_images_and_nothing_else():
    """Sequential.backward(dy, input_grad=False), as training calls it: a first Conv2D that runs the direct
    algorithm returns None instead of dL/dx, and every parameter's gradient is the same bits as with dL/dx."""
    rng = np.random.default_rng(23)
    x = rng.standard_normal((4, 1, 8, 8)).astype(np.float32)
    dy = rng.standard_normal((4, 3)).astype(np.float32)
    models = [Sequential([L.Conv2D(1, 4, 3, padding=1, rng=np.random.default_rng(0)), L.ReLU(), L.MaxPool2D(2),
                          L.Flatten(), L.Dense(64, 3, rng=np.random.default_rng(1))]) for _ in range(2)]
    results = []
    for model, input_grad in zip(models, (True, False)):
        model.forward(x, training=True)
        results.append(model.backward(dy, input_grad=input_grad))
    assert results[0].shape == x.shape and results[1] is None
    for a, b in zip(models[0].layers, models[1].layers):
        for name in a.grads:
            assert np.array_equal(a.grads[name], b.grads[name])


def fused_and_one_by_one(fused, separate, x, dy, training=True):
    """Forward and backward through Sequential (which hands a layer's neighbours to it where it can) and through
    the layers of an identical model one by one: (output, dL/dx) of each, and every layer's output of the second."""
    out = fused.forward(x, training=training)
    dx = fused.backward(dy)
    h, outputs = x, []
    for layer in separate.layers:
        h = layer.forward(h, training=training)
        outputs.append(h)
    d = dy
    for layer in reversed(separate.layers):
        d = layer.backward(d)
    return (out, dx), (h, d), outputs



def residual_net(rng):
    """A stem, a residual block (conv-BN-ReLU-conv-BN) and a ReLU, a pool, a dense head."""
    return Sequential([L.Conv2D(1, 4, 3, padding=1, rng=rng), L.BatchNorm2D(4), L.ReLU(),
                       L.Residual([L.Conv2D(4, 4, 3, padding=1, rng=rng), L.BatchNorm2D(4), L.ReLU(),
                                   L.Conv2D(4, 4, 3, padding=1, rng=rng), L.BatchNorm2D(4)]),
                       L.ReLU(), L.MaxPool2D(2), L.Flatten(), L.Dense(4 * 8 * 8, 3, rng=rng)])


def test_a_residual_block_adds_its_input_to_its_body():
    rng = np.random.default_rng(20)
    body = [L.Conv2D(3, 3, 3, padding=1, rng=rng), L.ReLU()]
    block = L.Residual(body)
    x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    np.testing.assert_array_equal(block.forward(x), x + body[1].forward(body[0].forward(x)))
    dy = rng.standard_normal(x.shape).astype(np.float32)
    block.forward(x)
    np.testing.assert_array_equal(block.backward(dy), dy + body[0].backward(body[1].backward(dy)))


def test_a_residual_blocks_arrays_are_its_bodys_through_training_astype_and_a_file(tmp_path):
    rng = np.random.default_rng(21)
    model = residual_net(rng)
    block = model.layers[3]
    conv = block.body.layers[0]
    assert block.params["0.weight"] is conv.params["weight"]
    x = rng.standard_normal((6, 1, 16, 16)).astype(np.float32)
    loss = SoftmaxCrossEntropy()
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    before = conv.params["weight"].copy()
    loss.forward(model.forward(x, training=True), np.array([0, 1, 2, 0, 1, 2]))
    model.zero_grad()
    model.backward(loss.backward())
    assert np.abs(conv.grads["weight"]).max() > 0
    optimizer.step()
    assert not np.array_equal(conv.params["weight"], before)          # the step reached the body's own array
    model.astype(np.float64)
    assert conv.params["weight"].dtype == np.float64 and block.params["0.weight"] is conv.params["weight"]
    model.astype(np.float32)
    model.save(tmp_path / "res.npz")
    loaded = load(tmp_path / "res.npz")
    assert loaded.architecture() == model.architecture()
    assert np.array_equal(loaded.forward(x), model.forward(x))
    assert "3.4.running_var" in model.state_dict()


def test_predict_and_a_predictor_run_residual_blocks_as_forward_does():
    rng = np.random.default_rng(22)
    model = residual_net(rng)
    x = rng.standard_normal((5, 1, 16, 16)).astype(np.float32)
    for _ in range(3):
        model.forward(x * 2 + 1, training=True)             # running statistics away from 0 and 1
    expected = model.forward(x)
    np.testing.assert_allclose(model.predict(x), expected, rtol=0, atol=1e-5 * np.abs(expected).max())
    predictor = model.predictor()
    np.testing.assert_allclose(predictor(x), expected, rtol=0, atol=1e-5 * np.abs(expected).max())
    model.layers[3].body.layers[0].params["weight"][...] = 0       # a predictor keeps the weights it was made with
    np.testing.assert_allclose(predictor(x), expected, rtol=0, atol=1e-5 * np.abs(expected).max())


def test_recomputed_batchnorm_statistics_reach_the_batchnorms_inside_residual_blocks():
    rng = np.random.default_rng(23)
    stem = [L.Conv2D(1, 4, 3, padding=1, rng=rng), L.ReLU()]
    inner_conv, inner = L.Conv2D(4, 4, 3, padding=1, rng=rng), L.BatchNorm2D(4)     # the one BatchNorm
    model = Sequential(stem + [L.Residual([inner_conv, inner]), L.ReLU(), L.Flatten(), L.Dense(4 * 16 * 16, 3, rng=rng)])
    x = rng.normal(1.0, 2.0, (40, 1, 16, 16)).astype(np.float32)
    assert model.recompute_batchnorm_statistics(x, batch_size=64) == 1
    into = inner_conv.forward(stem[1].forward(stem[0].forward(x)))
    np.testing.assert_allclose(inner.buffers["running_mean"], into.mean(axis=(0, 2, 3)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(inner.buffers["running_var"], into.transpose(1, 0, 2, 3).reshape(4, -1).var(1, ddof=1),
                               rtol=1e-4)


def test_a_residual_body_must_keep_the_shape_and_a_file_must_name_known_layers(tmp_path):
    rng = np.random.default_rng(24)
    with pytest.raises(ValueError, match=r"maps \(2, 6, 6\) to \(3, 6, 6\)"):
        L.Residual([L.Conv2D(2, 3, 3, padding=1, rng=rng)]).forward(np.zeros((1, 2, 6, 6), np.float32))
    with pytest.raises(ValueError, match="at least one layer"):
        L.Residual([])
    model = residual_net(rng)
    model.save(tmp_path / "res.npz")
    arrays = dict(np.load(tmp_path / "res.npz"))
    arch = json.loads(str(arrays["__arch__"]))
    arch[3]["config"]["layers"][2]["type"] = "EvilLayer"
    np.savez(tmp_path / "bad.npz", **dict(arrays, __arch__=np.array(json.dumps(arch))))
    with pytest.raises(minicnn.ModelFileError, match="unknown layer type 'EvilLayer' in a Residual"):
        load(tmp_path / "bad.npz")


def test_summary_lists_the_layers_inside_a_residual_block_once():
    text = residual_net(np.random.default_rng(25)).summary((1, 16, 16))
    rows = text.splitlines()
    block = next(i for i, row in enumerate(rows) if row.startswith("Residual"))
    assert rows[block + 1].startswith("  Conv2D(in_channels=4, out_channels=4") and "(4, 16, 16)" in rows[block + 1]
    assert rows[block + 5].startswith("  BatchNorm2D") and rows[block + 6].startswith("ReLU()")
    counts = [row[-12:].strip().replace(",", "") for row in rows[2:-2]]         # the right-aligned params column
    assert counts[block - 2] == ""                                            # the block's are its layers'
    by_hand = (9 * 4 + 4) + 8 + 2 * ((4 * 4 * 9 + 4) + 8) + (4 * 8 * 8 * 3 + 3)  # convs, BatchNorms, Dense
    assert sum(int(c) for c in counts if c) == int(rows[-1][-12:].replace(",", "")) == by_hand
