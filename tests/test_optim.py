"""Optimizers and schedules: hand-derived steps, and PyTorch as an oracle where installed."""
import math

import numpy as np
import pytest

from minicnn import optim


def pair(values):
    value = np.array(values, dtype=np.float64)
    return value, np.zeros_like(value)


def test_sgd_momentum_and_nesterov_by_hand():
    value, grad = pair([1.0])
    opt = optim.SGD([(value, grad)], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.5)
    grad[...] = 2.0
    opt.step()          # g = 2 + 0.5·1 = 2.5; b = 2.5; step = g + 0.9·b = 4.75
    assert value[0] == pytest.approx(1 - 0.475)
    opt.step()          # g = 2 + 0.5·0.525 = 2.2625; b = 0.9·2.5 + 2.2625 = 4.5125
    assert value[0] == pytest.approx(0.525 - 0.1 * (2.2625 + 0.9 * 4.5125))


def test_adam_first_step_is_lr_times_sign():
    value, grad = pair([1.0, -2.0])
    grad[...] = [0.3, -7.0]
    optim.Adam([(value, grad)], lr=0.01).step()
    assert np.allclose(value, [1.0 - 0.01, -2.0 + 0.01], atol=1e-7)


def test_state_dict_round_trip_continues_identically():
    rng = np.random.default_rng(0)
    grads = rng.standard_normal((6, 4))
    for cls, kwargs in [(optim.SGD, dict(lr=0.1, momentum=0.9)), (optim.Adam, dict(lr=0.01))]:
        a, ga = pair(np.ones(4))
        opt = cls([(a, ga)], **kwargs)
        for g in grads[:3]:
            ga[...] = g
            opt.step()
        b, gb = pair(a.copy())
        opt_b = cls([(b, gb)], **kwargs)
        opt_b.load_state_dict(opt.state_dict())
        for g in grads[3:]:
            ga[...] = g
            gb[...] = g
            opt.step()
            opt_b.step()
        assert np.array_equal(a, b)


def test_schedules():
    value, grad = pair([0.0])
    opt = optim.SGD([(value, grad)], lr=1.0)
    step = optim.StepLR(opt, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(4):
        step.step()
        lrs.append(opt.lr)
    assert lrs == [1.0, 0.5, 0.5, 0.25]
    opt.lr = 1.0
    cosine = optim.CosineLR(opt, total_epochs=4, min_lr=0.0)
    for _ in range(2):
        cosine.step()
    assert opt.lr == pytest.approx(0.5)
    for _ in range(2):
        cosine.step()
    assert opt.lr == pytest.approx(0.0)
    longer = optim.CosineLR(opt, total_epochs=8)           # resumed with a longer schedule: lr follows at once
    longer.load_state_dict(cosine.state_dict())
    assert opt.lr == pytest.approx(0.5)
    opt.lr = 1.0
    restarts = optim.CosineLR(opt, total_epochs=6, cycles=3)      # warm restarts every 2 epochs
    lrs = [opt.lr]
    for _ in range(6):
        restarts.step()
        lrs.append(opt.lr)
    assert lrs == pytest.approx([1.0, 0.5, 1.0, 0.5, 1.0, 0.5, 0.0])
    with pytest.raises(ValueError, match="multiple of cycles"):
        optim.CosineLR(opt, total_epochs=5, cycles=2)
    opt.lr = 1.0
    plateau = optim.ReduceOnPlateau(opt, factor=0.5, patience=1)
    for metric in [0.5, 0.6, 0.6, 0.6]:
        plateau.step(metric)
    assert opt.lr == 0.5


def test_average_weights_is_the_mean_of_every_array():
    from minicnn import Sequential, layers as L
    rng = np.random.default_rng(0)
    models = [Sequential([L.Dense(3, 2, rng=rng), L.BatchNorm1D(2)]) for _ in range(3)]
    for model in models:
        for value in model.state_dict().values():
            value[...] = rng.uniform(0.5, 2.0, value.shape)
    before = [{k: v.copy() for k, v in m.state_dict().items()} for m in models]
    averaged = optim.average_weights(models)
    assert set(averaged) == set(before[0]) == {"0.weight", "0.bias", "1.gamma", "1.beta", "1.running_mean",
                                               "1.running_var"}
    for key in averaged:
        expected = (before[0][key] + before[1][key] + before[2][key]) / 3
        assert np.allclose(averaged[key], expected) and averaged[key].dtype == before[0][key].dtype
    assert all(np.array_equal(m.state_dict()[k], b[k]) for m, b in zip(models, before) for k in b)   # untouched
    wider = Sequential([L.Dense(3, 4, rng=rng), L.BatchNorm1D(4)])
    with pytest.raises(ValueError, match="model 2 does not have the arrays of model 1"):
        optim.average_weights([models[0], wider])


@pytest.mark.parametrize("name", ["sgd", "nesterov", "adam"])
def test_matches_pytorch(name):
    torch = pytest.importorskip("torch", reason="PyTorch not installed (optional oracle: pip install torch==2.13.0)")
    rng = np.random.default_rng(1)
    start, grads = rng.standard_normal(5), rng.standard_normal((5, 5))
    value, grad = pair(start)
    tvalue = torch.tensor(start, requires_grad=True)
    if name == "adam":
        ours = optim.Adam([(value, grad)], lr=0.05, weight_decay=0.01)
        theirs = torch.optim.Adam([tvalue], lr=0.05, weight_decay=0.01)
    else:
        nesterov = name == "nesterov"
        ours = optim.SGD([(value, grad)], lr=0.05, momentum=0.9, nesterov=nesterov, weight_decay=0.01)
        theirs = torch.optim.SGD([tvalue], lr=0.05, momentum=0.9, nesterov=nesterov, weight_decay=0.01)
    for g in grads:
        grad[...] = g
        ours.step()
        tvalue.grad = torch.tensor(g)
        theirs.step()
    assert np.allclose(value, tvalue.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert not math.isclose(value[0], start[0])
