"""Every layer's whole-array form (array_forward/array_backward, what a GPU runs through CuPy) against its
kernel form (the CPU's), and minicnn.gpu's moving and packing.

The whole-array forms run on NumPy arrays here, so the math is checked on every machine; where CuPy and
a GPU are present, the last tests run a model and a training run on the GPU itself."""
import numpy as np
import pytest

from minicnn import Sequential, arrays, gpu, load, optim
from minicnn import layers as L
from minicnn.arrays import array_module, on_gpu, to_numpy

try:
    gpu.check_gpu()
    NO_GPU = None
except RuntimeError as e:
    NO_GPU = f"needs CuPy and an NVIDIA GPU: {e}".splitlines()[0]


def every_layer_model(seed, width=5):
    rng = np.random.default_rng(seed)
    return Sequential([
        L.Conv2D(2, 4, 3, padding=1, rng=rng), L.BatchNorm2D(4), L.ReLU(), L.MaxPool2D(2),
        L.Conv2D(4, 6, 3, stride=2, padding=2, rng=rng), L.LeakyReLU(0.1), L.AvgPool2D(2, stride=1),
        L.Conv2D(6, width, 1, rng=rng), L.MaxPool2D(3, stride=2),
        L.Flatten(), L.Dropout(0.3, rng=seed), L.Dense(width * 1 * 1, 8, rng=rng), L.BatchNorm1D(8), L.ReLU(),
        L.Dense(8, 3, rng=rng)])


def global_pool_model(seed):
    rng = np.random.default_rng(seed)
    return Sequential([L.Conv2D(1, 3, 5, padding=2, rng=rng), L.ReLU(), L.GlobalAvgPool2D(), L.Dense(3, 2, rng=rng)])


def passes(model, x, training, run):
    """Output, dL/dx and every gradient of one forward/backward pair, as NumPy arrays."""
    model.zero_grad()
    for i, layer in enumerate(model.layers):
        if isinstance(layer, L.Dropout):
            layer.rng = np.random.default_rng(i)
    y, dx = run(model, x, training)
    return [to_numpy(y), to_numpy(dx)] + [to_numpy(g) for _, g in model.parameters()] + \
        [to_numpy(b) for layer in model.layers for b in layer.buffers.values()]


def upstream_gradient(y):
    return array_module(y).asarray(np.cos(np.arange(y.size, dtype=y.dtype)).reshape(y.shape))


def cpu_layers(model, x, training):
    """Sequential's passes: on NumPy arrays, the kernels where a layer has them."""
    y = model.forward(x, training=training)
    return y, model.backward(upstream_gradient(y))


def array_code(model, x, training):
    """Every layer's whole-array form, called by name."""
    y = x
    for layer in model.layers:
        y = layer.array_forward(y, training)
    dx = upstream_gradient(y)
    for layer in reversed(model.layers):
        dx = layer.array_backward(dx)
    return y, dx


def assert_all_close(got, expected):
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert a.shape == b.shape
        # some gradients are rounding noise around 0 (a bias before a BatchNorm): rounding of the array's own scale
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=max(1e-4, 2e-5 * float(np.abs(b).max(initial=0))))


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(4, 2, 12, 12), (3, 2, 13, 11), (5, 2, 14, 10)])
def test_array_code_matches_the_layers(shape, training):
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    expected = passes(every_layer_model(0), x, training, cpu_layers)
    got = passes(every_layer_model(0), x, training, array_code)
    assert_all_close(got, expected)


def test_array_code_global_pool():
    x = np.random.default_rng(2).standard_normal((3, 1, 7, 9)).astype(np.float32)
    assert_all_close(passes(global_pool_model(0), x, True, array_code),
                     passes(global_pool_model(0), x, True, cpu_layers))


def test_packed_parameters_are_the_layers_arrays_and_the_optimizers_state():
    model = every_layer_model(0)
    sgd = optim.SGD(model.parameters(), 0.1, momentum=0.9)
    before = [value.copy() for value, _ in model.parameters()]
    packed = gpu.Packed(model, sgd)
    assert packed.values.size == model.num_parameters() and sgd.packed is packed
    for (value, grad), old in zip(model.parameters(), before):
        np.testing.assert_array_equal(value, old)
        assert np.shares_memory(value, packed.values) and np.shares_memory(grad, packed.grads)
    packed.grads[...] = 1
    sgd.step()                              # one update of the packed arrays reaches every layer
    for (value, _), old in zip(model.parameters(), before):
        np.testing.assert_allclose(value, old - 0.1, rtol=1e-6, atol=1e-6)
    assert all(np.shares_memory(state["momentum"], packed.state["momentum"]) for state in sgd.state)
    assert [a.shape for a in sgd.state_dict()["arrays"].values()] == [value.shape for value in before]
    sgd.zero_grad()
    assert not packed.grads.any()


def test_packing_reaches_the_layers_inside_a_residual_block():
    rng = np.random.default_rng(3)
    conv = L.Conv2D(2, 2, 3, padding=1, rng=rng)
    model = Sequential([L.Residual([conv, L.BatchNorm2D(2)]), L.ReLU(), L.Flatten(), L.Dense(2 * 4 * 4, 3, rng=rng)])
    packed = gpu.Packed(model, optim.SGD(model.parameters(), 0.1))
    assert np.shares_memory(conv.params["weight"], packed.values) and np.shares_memory(conv.grads["weight"], packed.grads)
    assert model.layers[0].params["0.weight"] is conv.params["weight"]


def test_to_numpy_leaves_numpy_alone():
    x = np.arange(3.0)
    assert to_numpy(x) is x and not on_gpu(x) and not every_layer_model(0).on_gpu


def test_a_layer_with_kernels_alone_runs_on_the_cpu_and_names_itself_on_a_gpu(monkeypatch):
    class KernelsOnly(L.Layer):
        def kernel_forward(self, x, training=False):
            return 2 * x

        def kernel_backward(self, dy):
            return 2 * dy
    layer, x = KernelsOnly(), np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(layer.forward(x), 2 * x)
    np.testing.assert_array_equal(layer.backward(x), 2 * x)
    monkeypatch.setattr(arrays, "on_gpu", lambda x: True)        # NumPy standing in for CuPy
    with pytest.raises(NotImplementedError, match=r"^KernelsOnly has no whole-array form \(array_forward\), so it "
                                                  r"cannot run on a GPU$"):
        layer.forward(x)
    with pytest.raises(NotImplementedError, match=r"^KernelsOnly has no whole-array form \(array_backward\)"):
        layer.backward(x)


def test_without_cupy_or_a_gpu_device_cuda_is_one_line_and_no_files(tmp_path, capsys):
    if NO_GPU is None:
        pytest.skip("this machine has CuPy and a GPU: --device cuda would train")
    from fer_app import train
    assert train.main(["--data", "demo", "--device", "cuda", "--out", str(tmp_path / "m.npz")]) == 2
    err = capsys.readouterr().err
    assert "--device cuda:" in err and len(err.strip().splitlines()) == 1 and not list(tmp_path.iterdir())


# ---------------------------------------------------------------- on a GPU

@pytest.mark.skipif(NO_GPU is not None, reason=str(NO_GPU))
@pytest.mark.parametrize("training", [True, False])
def test_model_on_the_gpu_matches_the_cpu(training):
    x = np.random.default_rng(3).standard_normal((5, 2, 14, 14)).astype(np.float32)
    expected = passes(every_layer_model(0), x, training, cpu_layers)
    model = every_layer_model(0)
    gpu.model_to_gpu(model)
    assert model.on_gpu
    assert_all_close(passes(model, x, training, cpu_layers), expected)     # Sequential sends the arrays to gpu


@pytest.mark.skipif(NO_GPU is not None, reason=str(NO_GPU))
def test_sgd_steps_on_the_gpu_match_the_cpu(tmp_path):
    x = np.random.default_rng(4).standard_normal((6, 2, 12, 12)).astype(np.float32)
    results = []
    for device in ("cpu", "gpu"):
        model = every_layer_model(0)
        sgd = optim.SGD(model.parameters(), 0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
        if device == "gpu":
            gpu.model_to_gpu(model, sgd)
        for _ in range(3):
            passes(model, x, True, cpu_layers)
            sgd.step()
        model.save(tmp_path / f"{device}.npz")
        results.append(load(tmp_path / f"{device}.npz").state_dict())
    for key, value in results[0].items():
        np.testing.assert_allclose(results[1][key], value, rtol=1e-3, atol=1e-5)


def test_batchnorm_statistics_recomputed_on_the_gpu_path_match_the_cpu(monkeypatch):
    """Sequential.recompute_batchnorm_statistics through the layers' whole-array forms, NumPy standing in for CuPy."""
    x = np.random.default_rng(5).standard_normal((9, 2, 14, 14)).astype(np.float32)
    expected, model = every_layer_model(0), every_layer_model(0)
    expected.recompute_batchnorm_statistics(x, batch_size=4)
    monkeypatch.setattr(arrays, "on_gpu", lambda x: True)
    monkeypatch.setattr(gpu, "to_gpu", np.asarray)
    model.recompute_batchnorm_statistics(x, batch_size=4)
    assert_all_close(list(model.state_dict().values()), list(expected.state_dict().values()))
    assert not np.allclose(model.layers[1].buffers["running_mean"], 0)          # they did change


def test_trainer_on_cuda_follows_the_cpu_run_with_numpy_standing_in_for_cupy(monkeypatch, tmp_path):
    """--device cuda's path through the Trainer (model and optimizer moved and packed, Sequential sending every
    pass to the layers' whole-array forms, logits back for the loss) with NumPy arrays as the 'GPU' ones: the same weights after a
    few steps as the CPU layers give, and a checkpoint that a CPU run continues from."""
    from fer_app import runs, train
    from fer_app.demo import make_faces
    splits = {"train": make_faces(20, 0), "val": make_faces(5, 1)}        # 140 and 35 faces
    trained = {}
    for device in ("cpu", "cuda"):
        if device == "cuda":
            monkeypatch.setattr(arrays, "on_gpu", lambda x: True)
            monkeypatch.setattr(gpu, "to_gpu", np.asarray)
        trainer = train.Trainer(train.TrainConfig(device=device, epochs=1).for_data("demo"), splits,
                                log=lambda *a: None)
        data_rng = np.random.default_rng(0)
        trainer.train_batches([np.arange(len(splits["train"][1]))[:64]] * 5, data_rng)
        assert trainer.model.on_gpu == (device == "cuda")
        assert (trainer.optimizer.packed is not None) == (device == "cuda")
        trained[device] = {k: v.copy() for k, v in trainer.model.state_dict().items()}
        trained[device].update({f"momentum {k}": v.copy() for k, v in trainer.optimizer.state_dict()["arrays"].items()})
        trained[device + " val"] = train.evaluate_split(trainer.model, trainer.x_val, trainer.y_val,
                                                        trainer.eval_loss)[2]
        trainer.save_checkpoint(tmp_path / f"{device}.ckpt.npz")
    monkeypatch.undo()
    state, read = runs.read_checkpoint(tmp_path / "cuda.ckpt.npz")
    resumed = train.Trainer(train.TrainConfig(epochs=1).for_data("demo"), splits, log=lambda *a: None,
                            checkpoint=(tmp_path / "cuda.ckpt.npz", read))
    assert not resumed.model.on_gpu and resumed.optimizer.packed is None
    for key, value in resumed.model.state_dict().items():
        np.testing.assert_array_equal(value, trained["cuda"][key])
    for key, value in resumed.optimizer.state_dict()["arrays"].items():
        np.testing.assert_array_equal(value, trained["cuda"][f"momentum {key}"])
    # rounding differences grow over the steps; the weights agree to 1e-3, the val probabilities to 1e-2
    np.testing.assert_allclose(trained.pop("cuda val"), trained.pop("cpu val"), atol=1e-2)
    for key, value in trained["cpu"].items():       # momentum sums gradients, and their rounding differences
        np.testing.assert_allclose(trained["cuda"][key], value, rtol=1e-3, atol=1e-3 if "momentum" in key else 1e-4)
