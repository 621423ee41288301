"""Every layer's backward against central differences, in float64, on many shapes."""
import numpy as np
import pytest

from minicnn import Sequential, arrays, gradcheck
from minicnn import layers as L
from minicnn.losses import SoftmaxCrossEntropy, SoftTargetCrossEntropy, softmax

TOL = 1e-6


def assert_gradients_ok(errors):
    bad = {k: v for k, v in errors.items() if not v < TOL}
    assert not bad, f"relative errors above {TOL}: {bad}"


def tie_free(rng, shape):
    """Distinct values spaced well beyond the finite-difference step, so max-pool has no ties."""
    return (rng.permutation(int(np.prod(shape))).reshape(shape) * 0.01 + 0.3).astype(np.float64)


CONV_CASES = [  # (N, C, H, W, F, kernel, stride, pad)
    (1, 1, 5, 5, 2, 3, 1, 0),
    (2, 3, 7, 6, 4, 3, 1, 1),
    (2, 2, 9, 7, 3, 3, 2, 1),
    (1, 2, 6, 8, 2, 5, 1, 2),
    (3, 2, 7, 7, 3, 5, 2, 2),
    (2, 3, 5, 4, 2, 1, 1, 0),
    (2, 2, 6, 5, 3, 1, 2, 1),
    (1, 1, 11, 9, 2, 3, 2, 0),
    (2, 9, 5, 6, 3, 3, 1, 1),      # enough channels for Winograd; odd output size: a tile hangs over the edge
    (1, 8, 4, 4, 2, 3, 1, 2),
]


WINOGRADS = ("winograd", "winograd2x2", "winograd3x3", "winograd4x4")
CONV_ALGORITHM_CASES = [case + (algorithm,) for case in CONV_CASES for algorithm in ("im2col", "direct", *WINOGRADS)
                        if algorithm == "im2col" or (algorithm == "direct" and case[6] == 1)
                        or (algorithm in WINOGRADS and case[5:7] == (3, 1))]


@pytest.mark.parametrize("N,C,H,W,F,k,s,p,algorithm", CONV_ALGORITHM_CASES)
def test_conv2d(N, C, H, W, F, k, s, p, algorithm):
    rng = np.random.default_rng(1)
    layer = L.Conv2D(C, F, k, stride=s, padding=p, rng=rng)
    layer.algorithm = algorithm
    layer.params["bias"][...] = rng.standard_normal(F)
    assert_gradients_ok(gradcheck.check_layer(layer, rng.standard_normal((N, C, H, W))))


@pytest.mark.parametrize("shape,k,s", [((1, 1, 4, 4), 2, None), ((2, 3, 7, 6), 2, None),
                                       ((2, 2, 7, 7), 3, 2), ((1, 2, 9, 5), 3, 1), ((3, 1, 5, 8), 2, 1)])
@pytest.mark.parametrize("cls", [L.MaxPool2D, L.AvgPool2D])
def test_pooling(cls, shape, k, s):
    rng = np.random.default_rng(2)
    assert_gradients_ok(gradcheck.check_layer(cls(k, s), tie_free(rng, shape)))


@pytest.mark.parametrize("shape", [(1, 3, 4, 4), (2, 2, 5, 3)])
def test_global_avg_pool(shape):
    assert_gradients_ok(gradcheck.check_layer(L.GlobalAvgPool2D(), np.random.default_rng(3).standard_normal(shape)))


@pytest.mark.parametrize("N,D,M", [(1, 3, 2), (4, 5, 7), (3, 10, 1)])
def test_dense(N, D, M):
    rng = np.random.default_rng(4)
    assert_gradients_ok(gradcheck.check_layer(L.Dense(D, M, rng=rng), rng.standard_normal((N, D))))


@pytest.mark.parametrize("layer", [L.ReLU(), L.LeakyReLU(0.1), L.Flatten()], ids=repr)
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 1, 3, 3)])
def test_elementwise(layer, shape):
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape)
    x[np.abs(x) < 1e-3] = 0.5            # keep away from the ReLU kink
    assert_gradients_ok(gradcheck.check_layer(layer, x))


@pytest.mark.parametrize("shape", [(4, 6), (2, 3, 4, 5)])
def test_dropout_fixed_mask(shape):
    layer = L.Dropout(0.4, rng=7)
    assert_gradients_ok(gradcheck.check_layer(layer, np.random.default_rng(6).standard_normal(shape), training=True))


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("cls,shape", [(L.BatchNorm2D, (2, 3, 4, 5)), (L.BatchNorm2D, (1, 2, 3, 3)),
                                       (L.BatchNorm1D, (5, 4)), (L.BatchNorm1D, (3, 2))])
def test_batchnorm(cls, shape, training):
    rng = np.random.default_rng(8)
    layer = cls(shape[1])
    layer.params["gamma"][...] = rng.uniform(0.5, 1.5, shape[1])
    layer.params["beta"][...] = rng.standard_normal(shape[1])
    layer.buffers["running_mean"][...] = rng.standard_normal(shape[1])
    layer.buffers["running_var"][...] = rng.uniform(0.5, 2, shape[1])
    assert_gradients_ok(gradcheck.check_layer(layer, rng.standard_normal(shape) * 2 + 1, training=training))


WHOLE_ARRAY_CASES = [  # (layer, input shape, training): every branch of the layers' whole-array forms
    (lambda rng: L.Conv2D(3, 4, 3, padding=1, rng=rng), (2, 3, 6, 5), True),     # stride 1: dx as a convolution
    (lambda rng: L.Conv2D(2, 3, 5, padding=2, rng=rng), (1, 2, 7, 6), True),
    (lambda rng: L.Conv2D(2, 3, 3, stride=2, padding=1, rng=rng), (2, 2, 7, 7), True),     # col2im
    (lambda rng: L.Conv2D(2, 3, 1, padding=1, rng=rng), (2, 2, 4, 3), True),      # padding beyond the kernel
    (lambda rng: L.MaxPool2D(2), (2, 3, 4, 6), True),                           # windows that tile the image
    (lambda rng: L.MaxPool2D(3, 2), (2, 2, 7, 7), True),
    (lambda rng: L.AvgPool2D(3, 1), (1, 2, 5, 6), True),
    (lambda rng: L.Dense(5, 4, rng=rng), (3, 5), True),
    (lambda rng: L.ReLU(), (2, 3, 4, 5), True),
    (lambda rng: L.BatchNorm2D(3), (2, 3, 4, 5), True),
    (lambda rng: L.BatchNorm2D(3), (2, 3, 4, 5), False),
    (lambda rng: L.BatchNorm1D(4), (5, 4), True),
]


@pytest.mark.parametrize("make_layer,shape,training", WHOLE_ARRAY_CASES)
def test_whole_array_forms(make_layer, shape, training, monkeypatch):
    """The forms a GPU runs (array_forward/array_backward), here on NumPy arrays: every array counts as a GPU's."""
    monkeypatch.setattr(arrays, "on_gpu", lambda x: True)
    rng = np.random.default_rng(9)
    layer = make_layer(rng)
    for name in layer.params:             # biases, gammas and betas away from their initial 0 and 1
        layer.params[name][...] += rng.uniform(0.1, 0.5, layer.params[name].shape).astype(layer.params[name].dtype)
    x = tie_free(rng, shape) if isinstance(layer, L.MaxPool2D) else rng.standard_normal(shape)
    x[np.abs(x) < 1e-3] = 0.5            # keep away from the ReLU kink
    assert_gradients_ok(gradcheck.check_layer(layer, x, training=training))
    assert layer.kernel_forward is not None     # a layer that has both forms: its array form was the one checked


@pytest.mark.parametrize("smoothing,weights", [(0.0, None), (0.1, None), (0.2, [1, 2, 0.5, 3])])
def test_softmax_cross_entropy(smoothing, weights):
    rng = np.random.default_rng(9)
    logits, labels = rng.standard_normal((5, 4)) * 3, np.array([0, 3, 1, 1, 2])
    loss = SoftmaxCrossEntropy(smoothing, weights)
    loss.forward(logits, labels)
    analytic = loss.backward()
    numeric = gradcheck.numerical_gradient(lambda: loss.forward(logits, labels), logits)
    assert gradcheck.relative_error(analytic, numeric) < TOL


@pytest.mark.parametrize("smoothing,weights", [(0.0, None), (0.1, [1, 2, 0.5, 3])])
def test_softmax_cross_entropy_on_vote_distributions(smoothing, weights):
    rng = np.random.default_rng(14)
    logits = rng.standard_normal((5, 4)) * 3
    votes = rng.integers(0, 6, (5, 4)).astype(float)
    votes[:, 1] += 1                                     # no row without votes
    shares = votes / votes.sum(axis=1, keepdims=True)
    loss = SoftmaxCrossEntropy(smoothing, weights)
    loss.forward(logits, shares)
    analytic = loss.backward()
    numeric = gradcheck.numerical_gradient(lambda: loss.forward(logits, shares), logits)
    assert gradcheck.relative_error(analytic, numeric) < TOL


def test_one_hot_distributions_are_the_integer_labels():
    rng = np.random.default_rng(15)
    logits, labels = rng.standard_normal((6, 4)), np.array([0, 3, 1, 1, 2, 3])
    loss = SoftmaxCrossEntropy(0.1, [1, 2, 0.5, 3])
    hard = loss.forward(logits, labels), loss.backward()
    soft = loss.forward(logits, np.eye(4)[labels]), loss.backward()
    assert hard[0] == pytest.approx(soft[0], rel=1e-12) and np.allclose(hard[1], soft[1], rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="summing to 1"):
        loss.forward(logits, np.eye(4)[labels] * 2)


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_soft_target_cross_entropy(temperature):
    rng = np.random.default_rng(12)
    logits = rng.standard_normal((5, 4)) * 3
    targets = softmax(rng.standard_normal((5, 4)))
    targets[0] = [1, 0, 0, 0]                           # a hard target among them: 0 · log 0 counts as 0
    loss = SoftTargetCrossEntropy(temperature)
    loss.forward(logits, targets)
    analytic = loss.backward()
    numeric = gradcheck.numerical_gradient(lambda: loss.forward(logits, targets), logits)
    assert gradcheck.relative_error(analytic, numeric) < TOL


def test_soft_targets_equal_to_the_students_own_give_zero_loss_and_gradient():
    z = np.random.default_rng(13).standard_normal((3, 5))
    loss = SoftTargetCrossEntropy(3.0)
    assert abs(loss.forward(z, softmax(z / 3.0))) < 1e-12 and np.abs(loss.backward()).max() < 1e-12


@pytest.mark.parametrize("training", [True, False])
def test_whole_network(training):
    """conv → BN → ReLU → pool → dropout (fixed mask) → dense → BN → ReLU → dense → softmax-CE, input and every
    parameter; each BatchNorm applies the ReLU after it itself (Sequential.forward fuses them)."""
    rng = np.random.default_rng(10)
    model = Sequential([L.Conv2D(2, 3, 3, padding=1, rng=rng), L.BatchNorm2D(3), L.ReLU(), L.MaxPool2D(2),
                        L.Dropout(0.3, rng=11), L.Flatten(), L.Dense(3 * 3 * 3, 5, rng=rng), L.BatchNorm1D(5),
                        L.ReLU(), L.Dense(5, 4, rng=rng)])
    x = rng.standard_normal((3, 2, 7, 6))
    errors = gradcheck.check_model(model, x, np.array([0, 3, 2]), SoftmaxCrossEntropy(0.1), training=training)
    assert set(errors) == {"input", "0.weight", "0.bias", "1.gamma", "1.beta", "6.weight", "6.bias", "7.gamma",
                           "7.beta", "9.weight", "9.bias"}
    assert_gradients_ok(errors)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (3, 2, 6, 6)])
def test_residual_block(shape, training):
    """y = x + f(x): dL/dx is dL/dy plus the body's backward, every parameter of the body checked."""
    rng = np.random.default_rng(12)
    C = shape[1]
    block = L.Residual([L.Conv2D(C, C, 3, padding=1, rng=rng), L.BatchNorm2D(C), L.ReLU(),
                        L.Conv2D(C, C, 3, padding=1, rng=rng), L.BatchNorm2D(C)])
    errors = gradcheck.check_layer(block, rng.standard_normal(shape), training=training)
    assert set(errors) == {"input", "0.weight", "0.bias", "1.gamma", "1.beta", "3.weight", "3.bias", "4.gamma", "4.beta"}
    assert_gradients_ok(errors)


@pytest.mark.parametrize("training", [True, False])
def test_whole_network_with_residual_blocks(training):
    """A net of two blocks, one inside the other's body, then ReLU and pool: every parameter, at any depth."""
    rng = np.random.default_rng(13)
    inner = L.Residual([L.Conv2D(3, 3, 3, padding=1, rng=rng), L.BatchNorm2D(3)])
    model = Sequential([L.Conv2D(2, 3, 3, padding=1, rng=rng), L.ReLU(),
                        L.Residual([inner, L.ReLU(), L.Conv2D(3, 3, 1, rng=rng)]), L.ReLU(), L.MaxPool2D(2),
                        L.Flatten(), L.Dense(3 * 3 * 3, 4, rng=rng)])
    x = rng.standard_normal((3, 2, 7, 6))
    errors = gradcheck.check_model(model, x, np.array([0, 3, 2]), SoftmaxCrossEntropy(0.1), training=training)
    assert {"2.0.0.weight", "2.0.1.gamma", "2.2.weight"} <= set(errors)
    assert_gradients_ok(errors)


def test_gradcheck_catches_a_wrong_backward():
    """The checker itself must fail loudly on a subtly wrong gradient."""
    class BrokenDense(L.Dense):
        def backward(self, dy):
            dx = super().backward(dy)
            self.grads["weight"] *= 1.01      # a 1 % error in dW
            return dx
    rng = np.random.default_rng(12)
    errors = gradcheck.check_layer(BrokenDense(4, 3, rng=rng), rng.standard_normal((2, 4)))
    assert errors["input"] < TOL and errors["weight"] > 1e-3
