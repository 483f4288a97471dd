"""kanlab.pde: sampling, derivatives (autograd and forward-mode), residual losses, solve_poisson."""
import math

import pytest
import torch
from torch import nn

from kanlab import KAN
from kanlab.pde import (
    PoissonLoss, box_ranges, gradient, kan_laplacian, laplacian, mesh, relative_l2, sample_boundary,
    sample_interior, solve_poisson,
)

PI = math.pi
D = torch.float64


def exact(x):
    return torch.sin(PI * x[:, 0]) * torch.sin(PI * x[:, 1])


def source(x):
    return -2 * PI**2 * exact(x)


# ---------------------------------------------------------------------- sampling
@pytest.mark.parametrize("method", ["random", "sobol", "grid"])
def test_interior_points_inside_box_seeded(method):
    box = [(-1.0, 2.0), (0.5, 0.75)]
    x = sample_interior(400, box, dim=2, method=method, seed=3, dtype=D)
    assert x.shape == (400, 2) and x.dtype == D
    for d, (lo, hi) in enumerate(box):
        assert bool((x[:, d] > lo).all() and (x[:, d] < hi).all())
    assert torch.equal(x, sample_interior(400, box, dim=2, method=method, seed=3, dtype=D))
    if method != "grid":
        assert not torch.equal(x, sample_interior(400, box, dim=2, method=method, seed=4, dtype=D))
    # the points fill the box: every quarter of the first axis holds some
    counts = torch.histc(x[:, 0], bins=4, min=-1.0, max=2.0)
    assert bool((counts > 50).all())


def test_interior_grid_needs_a_power_and_dtype_default():
    with pytest.raises(ValueError, match="m\\*\\*2"):
        sample_interior(10, method="grid")
    with pytest.raises(ValueError, match="method"):
        sample_interior(10, method="halton")
    assert sample_interior(9, method="grid").dtype == torch.get_default_dtype()
    assert sample_interior(27, dim=3, method="grid").shape == (27, 3)


@pytest.mark.parametrize("method", ["random", "grid"])
def test_boundary_points_on_boundary_spread_over_faces(method):
    x = sample_boundary(402, (-1.0, 1.0), dim=2, method=method, seed=0, dtype=D)
    assert x.shape == (402, 2)
    on_face = (x.abs() == 1.0)  # (n, 2): which coordinate sits on a face
    assert bool(on_face.any(1).all())
    assert bool((x.abs() <= 1.0).all())
    per_face = [int((x[:, d] == s).sum()) for d in range(2) for s in (-1.0, 1.0)]
    assert sorted(per_face) == [100, 100, 101, 101]
    assert torch.equal(x, sample_boundary(402, method=method, seed=0, dtype=D))


def test_boundary_faces_follow_their_measure_in_3d():
    box = [(0.0, 2.0), (0.0, 1.0), (0.0, 1.0)]
    x = sample_boundary(1000, box, dim=3, method="sobol", seed=1, dtype=D)
    # total measure 10: the two 1x1 faces (x0 = 0, 2) get 1/10 each, the four 2x1 faces 2/10 each
    small = int((x[:, 0] == 0.0).sum() + (x[:, 0] == 2.0).sum())
    big = int((x[:, 1] == 0.0).sum() + (x[:, 1] == 1.0).sum())
    assert small == 200 and big == 400
    mins, maxs = torch.tensor([b[0] for b in box], dtype=D), torch.tensor([b[1] for b in box], dtype=D)
    assert bool(((x >= mins) & (x <= maxs)).all())


def test_box_ranges_and_mesh():
    assert box_ranges((0, 1), 3) == [(0.0, 1.0)] * 3
    assert box_ranges([(0, 1), (2, 5)], 2) == [(0.0, 1.0), (2.0, 5.0)]
    with pytest.raises(ValueError, match="lo < hi"):
        box_ranges((1, 0), 2)
    with pytest.raises(ValueError, match="pairs|pair"):
        box_ranges([(0, 1)] * 3, 2)
    m = mesh(5, dtype=D)
    assert m.shape == (25, 2)
    assert {tuple(v) for v in m[[0, 4, 20, 24]].tolist()} == {(-1, -1), (-1, 1), (1, -1), (1, 1)}


# ---------------------------------------------------------------------- derivatives
def test_gradient_and_laplacian_of_a_known_function():
    x = (torch.rand(64, 2, dtype=D) * 2 - 1).requires_grad_()
    u = x[:, 0] ** 2 * x[:, 1] ** 3 + torch.sin(x[:, 0])
    a, b = x.detach()[:, 0], x.detach()[:, 1]
    g = gradient(u, x)
    torch.testing.assert_close(g, torch.stack([2 * a * b**3 + torch.cos(a), 3 * a**2 * b**2], 1))
    torch.testing.assert_close(laplacian(u.unsqueeze(1), x), 2 * b**3 + 6 * a**2 * b - torch.sin(a))


def test_derivative_errors():
    x = torch.rand(5, 2, dtype=D)
    with pytest.raises(ValueError, match="require grad"):
        laplacian(x.sum(1), x)
    x.requires_grad_()
    with pytest.raises(ValueError, match="shape"):
        gradient(x * 2, x)


def _adapted_kan(seed=0, **kw):
    model = KAN([2, 5, 1], grid=6, seed=seed, dtype=D, **kw)
    model.update_grid_from_samples(torch.rand(300, 2, dtype=D) * 2 - 1)  # adapted (non-uniform) grids
    return model


@pytest.mark.parametrize("uniform", [True, False])
def test_kan_laplacian_matches_finite_differences(uniform):
    model = KAN([2, 5, 1], grid=6, seed=0, dtype=D) if uniform else _adapted_kan()
    x = (torch.rand(50, 2, dtype=D) * 1.6 - 0.8).requires_grad_()
    lap = laplacian(model(x), x)
    h = 1e-4
    with torch.no_grad():
        fd = sum((model(x + h * e) - 2 * model(x) + model(x - h * e))[:, 0] / h**2
                 for e in torch.eye(2, dtype=D))
    # cubic splines are C^2: central differences agree to O(h) where a knot falls in the stencil
    torch.testing.assert_close(lap, fd, atol=1e-3 * float(fd.abs().max()), rtol=0)


@pytest.mark.parametrize("base_fun", ["silu", "identity", "zero"])
def test_forward_mode_laplacian_equals_autograd(base_fun):
    model = _adapted_kan(base_fun=base_fun)
    model.layers[0].coef.data += 0.1 * torch.randn_like(model.layers[0].coef)  # a less trivial function
    x = torch.rand(80, 2, dtype=D) * 2.2 - 1.1  # also outside the grid range
    xg = x.clone().requires_grad_()
    u = model(xg)
    lap = laplacian(u, xg)
    u2, lap2 = kan_laplacian(model, x)
    torch.testing.assert_close(u2, u.detach(), atol=1e-12, rtol=0)
    torch.testing.assert_close(lap2[:, 0], lap.detach(), atol=1e-10, rtol=1e-10)
    # parameter gradients agree too (the forward-mode result is trained through)
    params = [p for p in model.parameters() if p.requires_grad]  # inactive symbolic slots are frozen
    g_auto = torch.autograd.grad((lap**2).mean(), params, allow_unused=True)
    g_fwd = torch.autograd.grad((lap2**2).mean(), params, allow_unused=True)
    for a, b in zip(g_auto, g_fwd):
        if a is not None:
            torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-8)


def test_forward_laplacian_cache_follows_parameters_and_grids():
    model = _adapted_kan()
    x = torch.rand(40, 2, dtype=D) * 2 - 1
    cache = {}
    kan_laplacian(model, x, cache)
    with torch.no_grad():
        model.layers[0].coef.mul_(1.5)
    model.refine(9, x=x)  # new knots: the cached first-layer basis must be rebuilt
    xg = x.clone().requires_grad_()
    torch.testing.assert_close(kan_laplacian(model, x, cache)[1][:, 0], laplacian(model(xg), xg).detach())


def test_forward_laplacian_refuses_symbolic_edges():
    model = KAN([2, 2, 1], seed=0, dtype=D)
    model.fix_symbolic(0, 0, 0, "sin", fit_params_bool=False, verbose=False)
    with pytest.raises(ValueError, match="symbolic"):
        kan_laplacian(model, torch.zeros(3, 2, dtype=D))
    loss = PoissonLoss(sample_interior(16, dtype=D), sample_boundary(8, dtype=D), source, exact)
    assert math.isfinite(loss.parts(model)["loss"])  # "auto" falls back to autograd


def test_multiplication_nodes_go_through_autograd():
    model = KAN([2, [1, 1], 1], seed=0, dtype=D)
    with pytest.raises(ValueError, match="multiplication"):
        kan_laplacian(model, torch.zeros(3, 2, dtype=D))
    x_in, x_bd = sample_interior(16, dtype=D), sample_boundary(8, dtype=D)
    auto = PoissonLoss(x_in, x_bd, source, exact).parts(model)
    exact_parts = PoissonLoss(x_in, x_bd, source, exact, method="autograd").parts(model)
    assert auto == exact_parts


# ---------------------------------------------------------------------- losses and the solver
class Exact(nn.Module):
    def forward(self, x):
        return exact(x).unsqueeze(1) * self.scale

    def __init__(self, scale=1.0):
        super().__init__()
        self.scale = scale


def test_poisson_loss_vanishes_at_the_solution_only():
    x_in, x_bd = sample_interior(100, dtype=D), sample_boundary(40, dtype=D)
    loss = PoissonLoss(x_in, x_bd, source, exact, alpha=0.01)
    parts = loss.parts(Exact())
    assert parts["interior"] < 1e-20 and parts["boundary"] < 1e-20
    wrong = loss.parts(Exact(1.1))  # residual 0.1 f inside, still 0 on the boundary
    expected = float(torch.mean((0.1 * source(x_in)) ** 2))
    assert math.isclose(wrong["interior"], expected, rel_tol=1e-9) and wrong["boundary"] < 1e-20
    assert math.isclose(wrong["loss"], 0.01 * expected, rel_tol=1e-9)
    with pytest.raises(ValueError, match="one value per point"):
        PoissonLoss(x_in, x_bd, torch.zeros(7), 0.0)
    with pytest.raises(ValueError, match="alpha"):
        PoissonLoss(x_in, x_bd, source, alpha=0.0)
    with pytest.raises(ValueError, match="method"):
        PoissonLoss(x_in, x_bd, source, method="fd")


def test_poisson_loss_forward_and_autograd_agree_on_a_kan():
    model = _adapted_kan()
    x_in, x_bd = sample_interior(64, dtype=D), sample_boundary(32, dtype=D)
    a = PoissonLoss(x_in, x_bd, source, exact, method="autograd").parts(model)
    b = PoissonLoss(x_in, x_bd, source, exact, method="forward").parts(model)
    for key in a:
        assert math.isclose(a[key], b[key], rel_tol=1e-10)


def test_solve_poisson_reduces_the_error():
    model, history = solve_poisson(source, exact, grids=(5, 8), steps=(12, 8), n_interior=256, n_boundary=64,
                                   n_test=41, seed=0)
    assert isinstance(model, KAN) and model.grid == 8
    assert len(history["loss"]) == len(history["rel_l2"]) == len(history["grid"]) == 20
    first = relative_l2(KAN([2, 10, 1], grid=5, seed=0, dtype=D), exact, mesh(41, dtype=D))
    assert first > 0.5 and history["rel_l2"][-1] < 0.02, (first, history["rel_l2"][-1])
    assert [s["grid"] for s in history["stages"]] == [5, 8]


def test_solve_poisson_argument_errors():
    with pytest.raises(ValueError, match="one count per grid"):
        solve_poisson(source, exact, grids=(5, 10), steps=(3,))
    with pytest.raises(ValueError, match="at least one grid"):
        solve_poisson(source, exact, grids=())


def test_solve_poisson_restarts_keep_the_lowest_first_stage_loss():
    model, history = solve_poisson(source, exact, grids=(4, 6), steps=(4, 2), n_interior=64, n_boundary=32,
                                   n_test=11, seed=5, restarts=3)
    losses = [r["loss"] for r in history["restarts"]]
    assert [r["seed"] for r in history["restarts"]] == [5, 6, 7]
    assert history["seed"] == 5 + losses.index(min(losses))
    assert history["stages"][0]["loss"] == min(losses) and len(history["loss"]) == 6
    with pytest.raises(ValueError, match="restarts"):
        solve_poisson(source, exact, restarts=0)
