"""B-spline math against scipy and against its defining properties."""
import numpy as np
import pytest
import torch
from scipy.interpolate import BSpline

from kanlab import splines


def random_knots(in_dim: int, grid_size: int, k: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    gaps = torch.rand(in_dim, grid_size, generator=gen, dtype=torch.float64) + 0.05
    points = torch.cat([torch.zeros(in_dim, 1, dtype=torch.float64), gaps.cumsum(1)], dim=1) - 1.0
    return splines.extend_grid(points, k)


BASES = [splines.bspline_basis, splines.bspline_basis_local]


@pytest.mark.parametrize("basis_fn", BASES, ids=["cox_de_boor", "local"])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("uniform", [True, False])
def test_basis_matches_scipy(k: int, uniform: bool, basis_fn) -> None:
    grid_size, in_dim = 7, 3
    if uniform:
        knots = splines.extend_grid(splines.uniform_grid_points(in_dim, grid_size, (-1, 1), dtype=torch.float64), k)
    else:
        knots = random_knots(in_dim, grid_size, k, seed=k)
    lo, hi = knots[:, 0].min().item() - 0.5, knots[:, -1].max().item() + 0.5
    x = torch.linspace(lo, hi, 801, dtype=torch.float64).unsqueeze(1).repeat(1, in_dim)
    x[: knots.shape[1]] = knots.T  # exactly on every knot too, the outermost included
    basis = basis_fn(x, knots, k)
    assert basis.shape == (801, in_dim, grid_size + k)
    for j in range(in_dim):
        t = knots[j].numpy()
        for i in range(grid_size + k):
            ref = np.nan_to_num(BSpline.basis_element(t[i : i + k + 2], extrapolate=False)(x[:, j].numpy()))
            np.testing.assert_allclose(basis[:, j, i].numpy(), ref, atol=1e-13)


@pytest.mark.parametrize("basis_fn", BASES, ids=["cox_de_boor", "local"])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_partition_of_unity_inside_grid(k: int, basis_fn) -> None:
    knots = random_knots(4, 9, k, seed=0)
    grid = knots[:, k:-k]
    u = torch.rand(2000, 4, dtype=torch.float64)
    x = grid[:, 0] + u * (grid[:, -1] - grid[:, 0])
    x[0] = grid[:, 0]
    x[1] = grid[:, -1]  # both ends of the grid range included
    total = basis_fn(x, knots, k).sum(-1)
    torch.testing.assert_close(total, torch.ones_like(total), atol=1e-13, rtol=0)


@pytest.mark.parametrize("basis_fn", BASES, ids=["cox_de_boor", "local"])
def test_outside_grid_is_finite_and_zero_beyond_extension(basis_fn) -> None:
    k = 3
    knots = splines.extend_grid(splines.uniform_grid_points(1, 5, (-1, 1), dtype=torch.float64), k)
    x = torch.tensor([[-1e6], [-5.0], [5.0], [1e6]], dtype=torch.float64)
    basis = basis_fn(x, knots, k)
    assert torch.isfinite(basis).all()
    assert (basis == 0).all()


def test_repeated_knots_follow_scipy() -> None:
    k = 2
    knots = torch.tensor([[-2.0, -1.5, -1.0, 0.0, 0.0, 0.5, 1.0, 1.5, 2.0]], dtype=torch.float64)
    x = torch.linspace(-2.2, 2.2, 301, dtype=torch.float64).unsqueeze(1)
    basis = splines.bspline_basis(x, knots, k)
    t = knots[0].numpy()
    for i in range(t.size - k - 1):
        ref = np.nan_to_num(BSpline.basis_element(t[i : i + k + 2], extrapolate=False)(x[:, 0].numpy()))
        np.testing.assert_allclose(basis[:, 0, i].numpy(), ref, atol=1e-13)


def test_fit_coef_recovers_a_spline_exactly() -> None:
    k, grid_size = 3, 6
    knots = random_knots(2, grid_size, k, seed=3)
    coef = torch.randn(4, 2, grid_size + k, dtype=torch.float64)
    grid = knots[:, k:-k]
    x = grid[:, 0] + torch.rand(500, 2, dtype=torch.float64) * (grid[:, -1] - grid[:, 0])
    y = splines.spline_eval(x, knots, coef, k)
    fitted = splines.fit_coef(x, y, knots, k)
    x_new = grid[:, 0] + torch.rand(500, 2, dtype=torch.float64) * (grid[:, -1] - grid[:, 0])
    torch.testing.assert_close(
        splines.spline_eval(x_new, knots, fitted, k), splines.spline_eval(x_new, knots, coef, k), atol=1e-8, rtol=0
    )


def test_fit_coef_rank_deficient_is_finite_and_fits_data() -> None:
    k, grid_size = 3, 10
    knots = splines.extend_grid(splines.uniform_grid_points(1, grid_size, (-1, 1), dtype=torch.float64), k)
    x = torch.rand(50, 1, dtype=torch.float64) * 0.3  # data covers a third of the grid only
    y = torch.sin(3 * x).unsqueeze(1)  # (50, 1, 1)
    coef = splines.fit_coef(x, y, knots, k)
    assert torch.isfinite(coef).all()
    assert coef.abs().max() < 10
    torch.testing.assert_close(splines.spline_eval(x, knots, coef, k), y, atol=1e-4, rtol=0)


def test_grid_points_from_samples_blend() -> None:
    x = torch.randn(1000, 2, dtype=torch.float64) ** 3
    uniform = splines.grid_points_from_samples(x, 8, grid_eps=1.0)
    torch.testing.assert_close(uniform[:, 0], x.min(0).values)
    torch.testing.assert_close(uniform[:, -1], x.max(0).values)
    torch.testing.assert_close(uniform.diff(dim=1), uniform.diff(dim=1)[:, :1].expand(-1, 8))
    adaptive = splines.grid_points_from_samples(x, 8, grid_eps=0.0)
    inner = ((x[:, None, 0] <= adaptive[0, None, 1:]).double().mean(0))  # cdf at knots
    torch.testing.assert_close(inner, torch.linspace(1 / 8, 1, 8, dtype=torch.float64), atol=2e-3, rtol=0)
    assert (adaptive.diff(dim=1) >= 0).all()


def test_grid_points_from_constant_samples_do_not_collapse() -> None:
    x = torch.full((20, 1), 3.0)
    points = splines.grid_points_from_samples(x, 4, grid_eps=0.02)
    assert (points.diff(dim=1) > 0).all()


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_local_basis_gradients_match_reference(k: int) -> None:
    knots = random_knots(2, 6, k, seed=k)
    grid = knots[:, k:-k]
    x = grid[:, 0] + torch.rand(40, 2, dtype=torch.float64) * (grid[:, -1] - grid[:, 0])
    x = x.requires_grad_()
    w = torch.randn(40, 2, 6 + k, dtype=torch.float64)
    firsts = [torch.autograd.grad((fn(x, knots, k) * w).sum(), x, create_graph=True)[0] for fn in BASES]
    torch.testing.assert_close(firsts[1], firsts[0], atol=1e-9, rtol=1e-9)
    # second derivatives in x, as physics-informed losses need them (0 for k = 1)
    seconds = [torch.autograd.grad(g.sum(), x)[0] if g.requires_grad else torch.zeros_like(x) for g in firsts]
    torch.testing.assert_close(seconds[1], seconds[0], atol=1e-8, rtol=1e-8)
    assert torch.autograd.gradcheck(lambda t: splines.bspline_basis_local(t, knots, k), (x[:8],))
    assert torch.autograd.gradgradcheck(lambda t: splines.bspline_basis_local(t, knots, k), (x[:8],))


@pytest.mark.parametrize("dtype, far", [(torch.float64, 1e17), (torch.float32, 1e8), (torch.bfloat16, 300.0)])
def test_local_basis_finite_far_outside(dtype, far) -> None:
    knots = splines.extend_grid(splines.uniform_grid_points(2, 5, (-1, 1), dtype=dtype), 3)
    x = torch.tensor([[far, -far], [-far, far], [0.5, -0.5]], dtype=dtype)
    basis = splines.bspline_basis_local(x, knots, 3)
    assert torch.isfinite(basis).all()
    assert (basis[:2] == 0).all()


def test_resample_grid_points_keeps_old_points_for_integer_factors() -> None:
    gen = torch.Generator().manual_seed(0)
    points = torch.sort(torch.rand(2, 6, generator=gen, dtype=torch.float64), dim=1).values  # 5 intervals
    torch.testing.assert_close(splines.resample_grid_points(points, 5), points, atol=1e-15, rtol=0)
    tripled = splines.resample_grid_points(points, 15)
    assert tripled.shape == (2, 16)
    torch.testing.assert_close(tripled[:, ::3], points, atol=1e-15, rtol=0)
    assert bool((tripled.diff(dim=1) > 0).all())
    # the middle of each old interval is its midpoint: piecewise linear in the index
    torch.testing.assert_close(splines.resample_grid_points(points, 10)[:, 1::2], (points[:, 1:] + points[:, :-1]) / 2)


@pytest.mark.skipif(not splines.native.available(), reason="no C compiler: the tensor path only")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("kind", ["uniform", "adapted", "repeated"])
def test_local_basis_compiled_equals_the_tensor_scheme_bit_for_bit(dtype, k, kind) -> None:
    """bspline_basis_local's C loop (kanlab.native.deboor) does de Boor's scheme in the tensor
    path's order: equal bit for bit at every knot, one ulp either side, far outside and at
    random points; a NaN input falls back to the tensor path (searchsorted decides its span)."""
    gen = torch.Generator().manual_seed(k)
    knots = torch.linspace(-1, 1, 11, dtype=dtype).repeat(3, 1)
    if kind == "adapted":
        knots = torch.sort(torch.randn(3, 11, generator=gen, dtype=dtype) ** 3, dim=1).values
    if kind == "repeated":
        knots[:, 4] = knots[:, 5]
    at = knots.T
    x = torch.cat([at, torch.nextafter(at, at + 10), torch.nextafter(at, at - 10),
                   torch.randn(300, 3, generator=gen, dtype=dtype) * 2,
                   torch.tensor([[1e30, -1e30, float("inf")]], dtype=dtype)])
    compiled = splines.bspline_basis_local(x, knots, k)
    with splines.native.disabled():
        tensor = splines.bspline_basis_local(x, knots, k)
    assert torch.equal(compiled, tensor)
    x[5, 1] = float("nan")
    assert splines.native.deboor(x, splines.extend_grid(knots, k), k) is None
    compiled = splines.bspline_basis_local(x, knots, k)
    with splines.native.disabled():
        tensor = splines.bspline_basis_local(x, knots, k)
    assert torch.equal(compiled.nan_to_num(7.0), tensor.nan_to_num(7.0))
