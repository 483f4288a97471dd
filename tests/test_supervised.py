"""kanlab.supervised: the budgeted loop under the estimators and `kanlab compare`."""
import time

import pytest
import torch
from torch import nn

from kanlab.supervised import Standardizer, train_module
from test_loop import _data, _linear  # the same linear problem as the loop's tests


def _mse(m: nn.Module, x: torch.Tensor, y: torch.Tensor, w) -> torch.Tensor:
    per_row = ((m(x) - y) ** 2).mean(1)
    return per_row.mean() if w is None else (per_row * w).sum() / w.sum()


def test_standardizer_round_trip_and_constant_columns() -> None:
    x = torch.tensor([[1.0, 5.0, 2.0], [3.0, 5.0, 4.0], [5.0, 5.0, 9.0]], dtype=torch.float64)
    s = Standardizer(x)
    z = s.transform(x)
    assert torch.allclose(z.mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(z[:, [0, 2]].std(0, unbiased=False), torch.ones(2, dtype=torch.float64))
    assert s.scale[1] == 1.0 and torch.all(z[:, 1] == 0)  # constant column: centred only
    assert torch.allclose(s.inverse(z), x)
    assert torch.all(Standardizer(x[:1]).scale == 1.0)
    with pytest.raises(ValueError, match="non-empty"):
        Standardizer(torch.zeros(0, 2))


def test_steps_budget_and_learning() -> None:
    x, y = _data()
    model = _linear()
    res = train_module(model, x, y, _mse, opt="Adam", lr=0.05, steps=200)
    assert res.n_iter == 200 and len(res.loss_curve) == 200 and res.stop_reason == "steps"
    assert res.loss_curve[-1] < 1e-3 < res.loss_curve[0]
    lbfgs = train_module(_linear(), x, y, _mse, opt="LBFGS", lr=1.0, steps=5)
    assert lbfgs.loss_curve[-1] < 1e-8


def test_wall_time_budget() -> None:
    x, y = _data()
    start = time.perf_counter()
    res = train_module(_linear(), x, y, _mse, lr=1e-3, steps=10**9, seconds=0.2)
    assert res.stop_reason == "time" and 0.2 <= res.seconds < 0.5 and time.perf_counter() - start < 2.0


def test_minibatches_are_seeded_epochs() -> None:
    x, y = _data(40)
    seen = []
    train_module(_linear(), x, y, _mse, steps=8, batch_size=10, seed=3, before_step=lambda s, b: seen.append(b[0]))
    first_epoch = torch.cat(seen[:4])
    assert sorted(map(tuple, first_epoch.tolist())) == sorted(map(tuple, x.tolist()))  # each row once per epoch
    again = []
    train_module(_linear(), x, y, _mse, steps=8, batch_size=10, seed=3, before_step=lambda s, b: again.append(b[0]))
    assert all(torch.equal(a, b) for a, b in zip(seen, again))
    other = []
    train_module(_linear(), x, y, _mse, steps=1, batch_size=10, seed=4, before_step=lambda s, b: other.append(b[0]))
    assert not torch.equal(other[0], seen[0])


def test_weights_enter_the_loss() -> None:
    x, y = _data()
    y_shift = y.clone()
    y_shift[:32] += 10.0
    w = torch.ones(64)
    w[:32] = 0.0
    model = _linear()
    train_module(model, x, y_shift, _mse, weights=w, opt="LBFGS", lr=1.0, steps=5)
    with torch.no_grad():
        assert torch.mean((model(x[32:]) - y[32:]) ** 2) < 1e-6


def test_early_stopping_restores_best_state() -> None:
    x, y = _data()
    model = _linear()
    values = iter([5.0, 3.0, 1.0, 2.0, 4.0, 6.0, 7.0, 8.0])
    states = []

    def monitor() -> float:
        states.append({k: v.clone() for k, v in model.state_dict().items()})
        return next(values)

    res = train_module(model, x, y, _mse, lr=0.1, steps=8, monitor=monitor, n_iter_no_change=3, restore_best=True)
    assert res.stop_reason == "no_change" and res.n_iter == 6 and res.best_step == 3
    assert res.monitor_curve == [5.0, 3.0, 1.0, 2.0, 4.0, 6.0] and res.monitor_steps == [1, 2, 3, 4, 5, 6]
    assert all(torch.equal(model.state_dict()[k], states[2][k]) for k in states[2])


def test_nan_rolls_back_and_warns() -> None:
    x, y = _data()
    model = _linear()
    calls = {"n": 0}

    def loss_fn(m, xb, yb, wb):
        calls["n"] += 1
        loss = _mse(m, xb, yb, wb)
        return loss * float("nan") if calls["n"] > 3 else loss

    with pytest.warns(RuntimeWarning, match="NaN/Inf"):
        res = train_module(model, x, y, loss_fn, lr=0.1, steps=10)
    assert res.stop_reason == "nan" and res.n_iter == 3
    assert all(torch.isfinite(p).all() for p in model.parameters())
    with pytest.raises(ValueError, match="opt must be one of"):
        train_module(model, x, y, _mse, opt="SGD")


def test_patience_counts_epochs_not_mini_batches() -> None:
    x, y = _data(64)
    model = _linear()
    # a learning rate too small to change anything: the epoch loss never improves after epoch 1
    res = train_module(model, x, y, _mse, opt="Adam", lr=1e-12, steps=1000, batch_size=16, n_iter_no_change=3)
    assert res.stop_reason == "no_change"
    assert res.n_iter == (3 + 1) * 4  # 4 mini-batches per epoch; epoch 1 sets the best, 3 more without change


@pytest.mark.parametrize("opt, lr", [("Adam", 0.1), ("LBFGS", 1.0)])
def test_training_ends_in_a_state_with_finite_loss(opt, lr) -> None:
    # the loss is NaN once the mean output crosses 0.5, and the data pull the output towards 3
    x, y = _data()
    model = _linear()
    with torch.no_grad():
        model.bias.fill_(-5.0)

    def loss_fn(m, xb, yb, wb):
        pred = m(xb)
        return torch.log(0.5 - pred.mean()) + torch.mean((pred - 3.0) ** 2)

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        train_module(model, x, y, loss_fn, opt=opt, lr=lr, steps=200)
    with torch.no_grad():
        assert torch.isfinite(loss_fn(model, x, y, None))
