"""KAN-ODE (kanlab.ode): the RK4 integrator, simulated data, the windowed-shooting trainer and the
symbolic recovery of the Lotka-Volterra field."""
from __future__ import annotations

import math

import pytest
import sympy as sp
import torch

from kanlab import KAN
from kanlab.ode import (
    PolynomialField, fit_ode, lotka_volterra, odeint_rk4, polynomial_terms, recover_symbolic, refit_terms, rk4_step,
    simulate, term_contributions, trajectory_error, trajectory_windows,
)

D = torch.float64


def _lv_data(n_traj: int = 4, t_end: float = 3.0, noise: float = 0.01, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x0 = torch.tensor([3.0, 1.5], dtype=D) * torch.empty(n_traj, 2, dtype=D).uniform_(0.4, 1.6, generator=gen)
    t = torch.arange(0, t_end + 1e-9, 0.1, dtype=D)
    clean, obs = simulate(lotka_volterra(), x0, t, noise=noise, seed=seed + 1)
    return t, clean, obs


# ---------------------------------------------------------------------- integrator
@pytest.mark.parametrize("problem", ["decay", "oscillator"])
def test_rk4_is_fourth_order(problem: str) -> None:
    if problem == "decay":
        f = lambda x: -x  # noqa: E731
        x0 = torch.tensor([[1.0], [2.0]], dtype=D)
        exact = lambda t: x0 * math.exp(-t)  # noqa: E731
    else:
        f = lambda s: torch.stack([s[:, 1], -s[:, 0]], dim=1)  # noqa: E731 (x'' = -x)
        x0 = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=D)
        exact = lambda t: torch.stack([x0[:, 0] * math.cos(t) + x0[:, 1] * math.sin(t),  # noqa: E731
                                       -x0[:, 0] * math.sin(t) + x0[:, 1] * math.cos(t)], dim=1)
    t = torch.tensor([0.0, 2.0], dtype=D)
    errors = [float((odeint_rk4(f, x0, t, substeps=n)[:, -1] - exact(2.0)).abs().max()) for n in (10, 20, 40)]
    ratios = [errors[0] / errors[1], errors[1] / errors[2]]
    assert all(14 < r < 18 for r in ratios), (errors, ratios)  # 2^4 = 16 per halved step
    assert errors[-1] < 1e-6


def test_odeint_shapes_and_per_row_times_match_single_rows() -> None:
    f = lotka_volterra()
    x0 = torch.tensor([[2.0, 1.0], [4.0, 2.0], [3.0, 0.5]], dtype=D)
    t = torch.tensor([[0.0, 0.1, 0.3], [0.0, 0.2, 0.25], [0.0, 0.05, 0.5]], dtype=D)
    out = odeint_rk4(f, x0, t, substeps=3)
    assert out.shape == (3, 3, 2) and torch.equal(out[:, 0], x0)
    for i in range(3):
        torch.testing.assert_close(out[i], odeint_rk4(f, x0[i:i + 1], t[i], substeps=3)[0])
    one = rk4_step(f, x0, 0.1)
    torch.testing.assert_close(one, odeint_rk4(f, x0, torch.tensor([0.0, 0.1], dtype=D))[:, 1])


def test_odeint_follows_the_state_dtype() -> None:
    x0 = torch.tensor([[1.0, 0.5]], dtype=torch.float32)
    out = odeint_rk4(lotka_volterra(), x0, torch.linspace(0, 1, 5, dtype=D))
    assert out.dtype == torch.float32 and out.device == x0.device


def test_gradients_flow_to_initial_states_and_field_parameters() -> None:
    weight = torch.tensor([[-0.5, 1.0], [-1.0, -0.2]], dtype=D, requires_grad=True)
    x0 = torch.tensor([[1.0, 0.0], [0.3, -0.7]], dtype=D, requires_grad=True)
    t = torch.linspace(0, 1, 4, dtype=D)
    assert torch.autograd.gradcheck(lambda w, x: odeint_rk4(lambda s: s @ w.T, x, t, substeps=2), (weight, x0))
    model = KAN([2, [0, 2], 2], grid=3, seed=0, base_fun="identity", dtype=D)
    odeint_rk4(model, x0.detach(), t).sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)


# ---------------------------------------------------------------------- data
def test_simulate_is_seeded_and_noise_is_relative() -> None:
    x0 = torch.tensor([[2.0, 1.0], [4.0, 2.0]], dtype=D)
    t = torch.linspace(0, 5, 101, dtype=D)
    clean, obs = simulate(lotka_volterra(), x0, t, noise=0.05, seed=3)
    _, again = simulate(lotka_volterra(), x0, t, noise=0.05, seed=3)
    assert torch.equal(obs, again) and torch.equal(clean[:, 0], x0)
    ratio = (obs - clean).reshape(-1, 2).std(0) / clean.reshape(-1, 2).std(0)
    assert torch.all((ratio > 0.04) & (ratio < 0.06)), ratio
    # Lotka-Volterra conserves V = delta x - gamma log x + beta y - alpha log y
    v = clean[..., 0] - 3 * clean[..., 0].log() + clean[..., 1] - 1.5 * clean[..., 1].log()
    assert float((v - v[:, :1]).abs().max()) < 1e-6


def test_trajectory_windows() -> None:
    t = torch.tensor([0.0, 0.1, 0.3, 0.6], dtype=D)
    traj = torch.arange(2 * 4 * 2, dtype=D).reshape(2, 4, 2)
    starts, times, targets = trajectory_windows(t, traj, 2)
    assert starts.shape == (4, 2) and times.shape == (4, 3) and targets.shape == (4, 2, 2)
    torch.testing.assert_close(times[1], torch.tensor([0.0, 0.2, 0.5], dtype=D))
    torch.testing.assert_close(targets[3], traj[1, 2:4])
    torch.testing.assert_close(starts[2], traj[1, 0])


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad, match", [
    (lambda t, x: (t, x[0]), "n_traj, T, dim"),
    (lambda t, x: (t, x[:, :0]), "no empty dimension"),
    (lambda t, x: (t, x.index_fill(1, torch.tensor([3]), math.nan)), "NaN or Inf"),
    (lambda t, x: (t[:-1], x), "to match trajectories"),
    (lambda t, x: (t.flip(0), x), "strictly increasing"),
])
def test_fit_ode_refuses_bad_data(bad, match) -> None:
    t, _, obs = _lv_data(n_traj=2, t_end=1.0)
    model = KAN([2, 2], grid=3, seed=0, dtype=D)
    with pytest.raises(ValueError, match=match):
        fit_ode(model, *bad(t, obs), steps=1)


def test_fit_ode_refuses_bad_settings_and_models() -> None:
    t, _, obs = _lv_data(n_traj=2, t_end=1.0)
    with pytest.raises(ValueError, match="window must be below"):
        fit_ode(KAN([2, 2], seed=0, dtype=D), t, obs, window=len(t))
    with pytest.raises(ValueError, match=r"model must map \(batch, 2\)"):
        fit_ode(KAN([2, 1], seed=0, dtype=D), t, obs, steps=1)
    with pytest.raises(ValueError, match="lamb > 0 needs a KAN"):
        fit_ode(PolynomialField([[(1, 0)], [(0, 1)]], [[1.0], [1.0]], dtype=D), t, obs, lamb=0.1, steps=1)
    with pytest.raises(ValueError, match="x0 contains NaN"):
        odeint_rk4(lambda x: x, torch.tensor([[math.nan]]), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"x0 must have shape \(batch, dim\)"):
        odeint_rk4(lambda x: x, torch.zeros(0, 2), torch.tensor([0.0, 1.0]))


# ---------------------------------------------------------------------- training
def test_training_reduces_trajectory_error_and_adapts_grids() -> None:
    t, clean, obs = _lv_data(n_traj=3, t_end=2.0)
    model = KAN([2, [0, 2], 2], grid=5, seed=0, base_fun="identity", dtype=D)
    before = trajectory_error(model, t, clean)
    result = fit_ode(model, t, obs, window=3, steps=6, progress=False)
    after = trajectory_error(model, t, clean)
    assert after < 0.2 * before and after < 0.15, (before, after)
    assert result.n_iter == 6 and result.loss[-1] < 0.1 * result.loss[0]
    lo, hi = model.layers[0].domain.unbind(-1)  # grid updates followed the states, not [-1, 1]
    states = obs.reshape(-1, 2)
    assert torch.all(lo <= states.min(0).values) and torch.all(hi >= states.max(0).values) and float(hi.min()) > 2


def test_adam_and_minibatches_train_too() -> None:
    t, clean, obs = _lv_data(n_traj=2, t_end=1.0)
    model = KAN([2, [0, 2], 2], grid=3, seed=0, base_fun="identity", dtype=D)
    before = trajectory_error(model, t, clean)
    fit_ode(model, t, obs, opt="Adam", lr=0.02, steps=25, batch_size=8, progress=False)
    assert trajectory_error(model, t, clean) < 0.5 * before


# ---------------------------------------------------------------------- formulas
def test_polynomial_terms_and_field() -> None:
    x, y = sp.symbols("x y")
    terms = polynomial_terms(1.5 * x - x * y + 0.0 * y ** 2, (x, y))
    assert terms == {(1, 0): 1.5, (1, 1): -1.0}
    with pytest.raises(ValueError, match="not a polynomial"):
        polynomial_terms(sp.sin(x) + y, (x, y))
    field = PolynomialField([[(1, 0), (1, 1)], [(1, 1), (0, 1)]], [[1.5, -1.0], [1.0, -3.0]], dtype=D)
    s = torch.rand(7, 2, dtype=D) * 4
    torch.testing.assert_close(field(s), lotka_volterra()(s))
    share = term_contributions({(1, 0): 1.0, (0, 0): 0.01}, torch.tensor([[1.0, 0.0], [3.0, 0.0]], dtype=D))
    assert share[(0, 0)] < 0.01 < 0.9 < share[(1, 0)]


def test_refit_terms_drops_spurious_terms_and_recovers_constants() -> None:
    t, _, obs = _lv_data(n_traj=4, t_end=3.0, noise=0.005)
    x, y = sp.symbols("x y")
    rough = [1.3 * x - 0.9 * x * y + 0.02 * y ** 2 - 0.01, 1.1 * x * y - 2.8 * y + 0.01 * x]
    exprs, field = refit_terms(rough, (x, y), t, obs, steps=10)
    got = [polynomial_terms(e, (x, y)) for e in exprs]
    assert set(got[0]) == {(1, 0), (1, 1)} and set(got[1]) == {(1, 1), (0, 1)}
    for terms, truth in zip(got, ({(1, 0): 1.5, (1, 1): -1.0}, {(1, 1): 1.0, (0, 1): -3.0})):
        for m, c in truth.items():
            assert abs(terms[m] - c) < 0.02 * abs(c), (m, terms[m], c)


@pytest.mark.slow
def test_lotka_volterra_is_recovered_from_noisy_trajectories() -> None:
    """The whole workflow (what ``examples/kan_ode.py --quick`` runs): the printed equations are
    the Lotka-Volterra terms and nothing else, each constant within 2% (about 45 s on one core)."""
    t, clean, obs = _lv_data(n_traj=6, t_end=4.0, noise=0.01)
    model = KAN([2, [0, 2], 2], grid=5, seed=0, base_fun="identity", dtype=D)
    fit_ode(model, t, obs, steps=20, progress=False)
    x, y = sp.symbols("x y")
    rec = recover_symbolic(model, t, obs, ["x", "y"], finetune_steps=15, refit_steps=8)
    assert all(r["name"] == "x" for r in rec.snapped)
    truth = ({(1, 0): 1.5, (1, 1): -1.0}, {(1, 1): 1.0, (0, 1): -3.0})
    for expr, true in zip(rec.formulas, truth):
        got = polynomial_terms(expr, (x, y))
        assert set(got) == set(true), expr
        for m, c in true.items():
            assert abs(got[m] - c) < 0.02 * abs(c), (expr, m)
    assert trajectory_error(rec.field, t, clean) < 0.02
