"""kanlab.loop.train_loop: the one training loop (budget, batches, hooks, schedulers, early
stopping, NaN rollback, progress)."""
import io
import math
import sys

import pytest
import torch
from torch import nn

from kanlab.loop import seeded_batches, train_loop


def _data(n: int = 64):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, generator=g)
    return x, x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3


def _linear(seed: int = 0) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(3, 1)


def _mse(model: nn.Module):
    return lambda xb, yb: torch.mean((model(xb) - yb) ** 2)


def _state(model: nn.Module):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class FakeClock:
    """Each call advances one 'second': a step (read at its start and end) lasts exactly 1 s."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_time_budget_stops_before_the_step_budget() -> None:
    x, y = _data()
    model = _linear()
    res = train_loop(model, _mse(model), (x, y), steps=10**9, seconds=3.5, clock=FakeClock())
    assert res.stop_reason == "time" and res.n_iter == 4 and res.seconds == 4.0
    assert len(res.loss_curve) == 4
    zero = train_loop(model, _mse(model), (x, y), steps=10, seconds=0)
    assert zero.n_iter == 0 and zero.stop_reason == "time"


def test_seeded_batches_cover_every_row_once_per_epoch_and_repeat() -> None:
    n, batch = 10, 4  # 4 + 4 + 2 rows per epoch: the last batch is smaller, no row is skipped
    x, y = _data(n)
    rows = torch.arange(n)
    rng_before = torch.random.get_rng_state()

    def run(seed: int):
        seen = []
        model = _linear()
        train_loop(model, lambda xb, yb, ib: _mse(model)(xb, yb), (x, y, rows), steps=9, batch_size=batch, seed=seed,
                   before_step=[lambda step, b: seen.append(b[2].tolist())])
        return seen

    seen = run(3)
    assert [len(b) for b in seen] == [4, 4, 2] * 3
    for epoch in range(3):
        assert sorted(sum(seen[3 * epoch: 3 * epoch + 3], [])) == list(range(n))
    assert seen[:3] != seen[3:6]  # a fresh permutation per epoch
    assert run(3) == seen and run(4) != seen
    assert torch.equal(torch.random.get_rng_state(), rng_before)  # the global RNG is untouched
    gen = seeded_batches(n, batch, 3)
    assert [next(gen).tolist() for _ in range(3)] == seen[:3]


def test_full_batch_and_objective_without_data() -> None:
    x, y = _data()
    model = _linear()
    seen = []
    train_loop(model, _mse(model), (x, y), steps=2, batch_size=64, before_step=[lambda s, b: seen.append(b[0])])
    assert all(b is x for b in seen)  # batch_size >= n: the data itself every step
    res = train_loop(model, lambda: _mse(model)(x, y), opt="LBFGS", steps=3)
    assert res.n_iter == 3 and res.loss_curve[-1] < 1e-8
    with pytest.raises(ValueError, match="batch_size needs data"):
        train_loop(model, lambda: _mse(model)(x, y), steps=1, batch_size=8)
    with pytest.raises(ValueError, match="same number of rows"):
        train_loop(model, _mse(model), (x, y[:10]), steps=1)


def test_early_stopping_restores_the_best_state() -> None:
    x, y = _data()
    model = _linear()
    values = iter([5.0, 3.0, 1.0, 2.0, 4.0, 6.0, 7.0, 8.0])
    states = []

    def monitor() -> float:
        states.append(_state(model))
        assert not model.training and not torch.is_grad_enabled()
        return next(values)

    res = train_loop(model, _mse(model), (x, y), lr=0.1, steps=8, monitor=monitor, n_iter_no_change=3,
                     restore_best=True)
    assert res.stop_reason == "no_change" and res.n_iter == 6 and res.best_step == 3
    assert res.monitor_curve == [5.0, 3.0, 1.0, 2.0, 4.0, 6.0] and res.monitor_steps == [1, 2, 3, 4, 5, 6]
    assert not _same(states[-1], states[2]) and _same(_state(model), states[2])
    assert model.training  # the mode it started in


def test_nan_from_an_update_restores_the_exact_previous_parameters() -> None:
    """The step's update turns the parameters to Inf/NaN (the loss at its start is finite): the
    model must hold exactly the state the step started from."""
    x, y = _data()
    model = _linear()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    after = []

    def blow_up(step: int, batch) -> None:
        if step == 3:
            opt.param_groups[0]["lr"] = math.inf

    with pytest.warns(RuntimeWarning, match="NaN/Inf.*restored"):
        res = train_loop(model, _mse(model), (x, y), opt=opt, steps=10, before_step=[blow_up],
                         on_step=lambda r: after.append(_state(model)))
    assert res.stop_reason == "nan" and res.n_iter == 3
    assert _same(_state(model), after[2])


def test_nan_at_the_start_of_a_step_undoes_the_previous_step() -> None:
    """A non-finite loss *at* step 4's start means step 3 produced it: back to step 3's start."""
    x, y = _data()
    model = _linear()
    calls = [0]
    after = []

    def objective(xb, yb):
        calls[0] += 1  # Adam evaluates once per step
        loss = _mse(model)(xb, yb)
        return loss * math.nan if calls[0] == 5 else loss

    with pytest.warns(RuntimeWarning, match="NaN/Inf") as caught:
        res = train_loop(model, objective, (x, y), lr=0.1, steps=10, on_step=lambda r: after.append(_state(model)))
    assert res.stop_reason == "nan" and res.n_iter == 4
    assert _same(_state(model), after[2])
    message = str(caught[0].message)  # the advice fits the run: Adam is not told to try Adam
    assert "a smaller lr (it is 0.1)" in message and "opt='Adam'" not in message


def test_without_rollback_a_nan_loss_still_stops() -> None:
    x, y = _data()
    model = _linear()
    with pytest.warns(RuntimeWarning, match="left as it is"):
        res = train_loop(model, lambda xb, yb: _mse(model)(xb, yb) * math.nan, (x, y), steps=5, rollback=False)
    assert res.stop_reason == "nan" and res.n_iter == 0


@pytest.mark.parametrize("interval, expected", [("epoch", 0.5 ** 3), ("step", 0.5 ** 6)])
def test_lr_scheduler_is_stepped(interval, expected) -> None:
    x, y = _data(20)
    model = _linear()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    train_loop(model, _mse(model), (x, y), opt=opt, steps=6, batch_size=10, scheduler=sched,
               scheduler_interval=interval)  # 3 epochs of 2 mini-batches
    assert math.isclose(opt.param_groups[0]["lr"], 0.1 * expected)
    made = []

    def factory(optimizer):
        made.append(torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5))
        return made[-1]

    train_loop(model, _mse(model), (x, y), opt="Adam", lr=0.1, steps=6, batch_size=10, scheduler=factory,
               scheduler_interval=interval)
    assert math.isclose(made[0].get_last_lr()[0], 0.1 * expected)
    with pytest.raises(ValueError, match="scheduler must schedule the optimiser"):
        train_loop(model, _mse(model), (x, y), opt="Adam", steps=1, scheduler=sched)


def test_plateau_scheduler_gets_the_watched_value() -> None:
    x, y = _data(20)
    model = _linear()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=1, factor=0.1)
    train_loop(model, _mse(model), (x, y), opt=opt, steps=5, monitor=lambda: 1.0, scheduler=sched)
    assert opt.param_groups[0]["lr"] < 0.1  # a constant monitored value is a plateau


def test_optimizer_instance_is_used_as_given() -> None:
    x, y = _data()
    model = _linear()
    w0 = model.weight.detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    train_loop(model, _mse(model), (x, y), opt=opt, steps=1)
    model_ref = _linear()
    loss = torch.mean((model_ref(x) - y) ** 2)
    (grad,) = torch.autograd.grad(loss, model_ref.weight)
    assert torch.allclose(model.weight.detach(), w0 - 0.05 * grad)
    assert "momentum_buffer" in opt.state[model.weight]
    with pytest.raises(ValueError, match="lr applies to an optimiser given by name"):
        train_loop(model, _mse(model), (x, y), opt=opt, lr=0.1, steps=1)
    with pytest.raises(ValueError, match="opt must be one of"):
        train_loop(model, _mse(model), (x, y), opt="SGD", steps=1)


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_silent_unless_stderr_is_a_terminal(monkeypatch) -> None:
    x, y = _data()
    model = _linear()
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    train_loop(model, _mse(model), (x, y), steps=3)
    assert log.getvalue() == ""
    train_loop(model, _mse(model), (x, y), steps=3, progress=True, desc="forced")
    assert "forced" in log.getvalue()
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stderr", tty)
    train_loop(model, _mse(model), (x, y), steps=3, desc="terminal", describe=lambda: "custom text")
    assert "custom text" in tty.getvalue()


def test_patience_counts_epochs_and_on_step_sees_every_step() -> None:
    x, y = _data(64)
    model = _linear()
    counted = []
    res = train_loop(model, _mse(model), (x, y), opt="Adam", lr=1e-12, steps=1000, batch_size=16, n_iter_no_change=3,
                     on_step=lambda r: counted.append(r.n_iter))
    assert res.stop_reason == "no_change" and res.n_iter == (3 + 1) * 4  # 4 mini-batches per epoch
    assert counted == list(range(1, res.n_iter + 1))
