"""kanlab.bases: the base-function registry and the Basis interface (B-splines, and a toy basis
plugged into a layer)."""
import pytest
import torch

from kanlab import KANLayer, splines
from kanlab.bases import BASE_FUNCTIONS, Basis, BSplineBasis, resolve_base_fun

F64 = torch.float64


# ------------------------------------------------------------------ base functions
@pytest.mark.parametrize("name", sorted(BASE_FUNCTIONS))
def test_registry_derivatives_equal_autograd(name: str) -> None:
    base = BASE_FUNCTIONS[name]
    x = torch.cat([torch.linspace(-30, 30, 241, dtype=F64), torch.randn(200, dtype=F64)]).requires_grad_()
    value, d1, d2 = base.derivatives(x, 2)
    y = base.fn(x) + 0 * x  # a graph even for the constant 'zero'
    (g,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    h = torch.autograd.grad(g.sum(), x)[0] if g.requires_grad else torch.zeros_like(x)
    torch.testing.assert_close(value, y, atol=0, rtol=0)
    torch.testing.assert_close(d1, g, atol=1e-14, rtol=1e-12)
    torch.testing.assert_close(d2, h, atol=1e-14, rtol=1e-12)
    assert base.zero == (name == "zero")


def test_custom_and_unknown_base_functions() -> None:
    custom = resolve_base_fun(torch.tanh)
    assert custom.name == "custom" and custom.fn is torch.tanh and custom.d1 is None
    with pytest.raises(ValueError, match="no known derivatives"):
        custom.derivatives(torch.zeros(3), 1)
    assert len(custom.derivatives(torch.zeros(3), 0)) == 1
    with pytest.raises(ValueError, match=r"base_fun must be one of \['identity', 'silu', 'zero'\]"):
        resolve_base_fun("relu6")
    assert resolve_base_fun("silu") is BASE_FUNCTIONS["silu"]


# ------------------------------------------------------------------ B-splines through the interface
def bspline_basis(k: int, adapted: bool, grid: int = 7) -> BSplineBasis:
    basis = BSplineBasis(3, grid, k, (-1.0, 1.0), dtype=F64)
    if adapted:
        basis.adapt(torch.randn(400, 3, generator=torch.Generator().manual_seed(k), dtype=F64) ** 3, grid)
    return basis


@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("adapted", [False, True])
def test_bspline_values_and_derivatives_equal_the_exact_basis(k: int, adapted: bool) -> None:
    basis = bspline_basis(k, adapted)
    knots = basis.knots
    assert basis.n_basis == 7 + k and basis.grid_size == 7 and knots.shape == (3, 7 + 2 * k + 1)
    lo, hi = knots[:, 0], knots[:, -1]
    u = torch.rand(300, 3, generator=torch.Generator().manual_seed(0), dtype=F64) * 1.4 - 0.2
    x = lo + (hi - lo) * u  # inside, in the extension and beyond the knots
    exact = splines.bspline_basis(x, knots, k)
    torch.testing.assert_close(basis.evaluate(x), exact, atol=1e-13, rtol=0)
    torch.testing.assert_close(basis.evaluate_reference(x), exact, atol=1e-13, rtol=0)
    # derivatives: autograd of the Cox-de Boor reference (exact polynomials between knots)
    xg = x.clone().requires_grad_()
    ref = splines.bspline_basis(xg, knots, k)
    for deriv in (1, 2):
        rows = []
        for n in range(basis.n_basis):
            if not ref.requires_grad:  # linear pieces: no second derivative graph
                rows.append(torch.zeros_like(x))
                continue
            (g,) = torch.autograd.grad(ref[..., n].sum(), xg, create_graph=True)
            rows.append(g)
        ref = torch.stack(rows, -1)
        torch.testing.assert_close(basis.evaluate(x, deriv), ref.detach(), atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("adapted", [False, True])
def test_bspline_local_values_scatter_to_the_dense_basis(adapted: bool) -> None:
    basis = bspline_basis(3, adapted)
    x = torch.rand(100, 3, dtype=F64) * 5 - 2.5  # inside, in the extension and beyond the knots
    values, index = basis.local(x, order=2)
    assert values.shape == (3, 100, 3, 4) and index.shape == (100, 3, 4)
    assert int(index.min()) >= 0 and int(index.max()) < basis.n_basis
    for r in range(3):
        dense = torch.zeros(100, 3, basis.n_basis, dtype=F64).scatter_add(2, index, values[r])
        torch.testing.assert_close(dense, basis.evaluate(x, r), atol=1e-12, rtol=0)


@pytest.mark.parametrize("adapted", [False, True])
def test_bspline_partition_of_unity_on_the_domain(adapted: bool) -> None:
    basis = bspline_basis(3, adapted)
    lo, hi = basis.domain.unbind(1)
    torch.testing.assert_close(basis.domain, torch.stack([basis.grid[:, 0], basis.grid[:, -1]], 1))
    x = lo + (hi - lo) * torch.rand(500, 3, dtype=F64)
    torch.testing.assert_close(basis.evaluate(x).sum(-1), torch.ones(500, 3, dtype=F64), atol=1e-13, rtol=0)
    torch.testing.assert_close(basis.evaluate(x, 1).sum(-1), torch.zeros(500, 3, dtype=F64), atol=1e-10, rtol=0)


@pytest.mark.parametrize("factor", [2, 3])
@pytest.mark.parametrize("adapted", [False, True])
def test_bspline_refine_by_an_integer_factor_keeps_the_function(factor: int, adapted: bool) -> None:
    basis = bspline_basis(3, adapted, grid=5)
    coef = torch.randn(2, 3, basis.n_basis, generator=torch.Generator().manual_seed(1), dtype=F64)
    lo, hi = basis.domain.unbind(1)
    x = lo + (hi - lo) * torch.rand(400, 3, dtype=F64)
    before = torch.einsum("bin,oin->boi", basis.evaluate(x), coef)
    refit = basis.refine(5 * factor)
    assert basis.grid_size == 5 * factor and refit.shape == (3, basis.n_basis, 5 + 3)
    after = torch.einsum("bin,oin->boi", basis.evaluate(x), torch.einsum("inm,oim->oin", refit, coef))
    torch.testing.assert_close(after, before, atol=1e-10, rtol=0)


def test_bspline_plan_follows_knots_written_in_place() -> None:
    basis = bspline_basis(3, adapted=False)
    x = torch.rand(20, 3, dtype=F64) * 2 - 1
    basis.evaluate(x)
    with torch.no_grad():
        basis.knots.mul_(2.0)
    torch.testing.assert_close(basis.evaluate(x), splines.bspline_basis(x, basis.knots, 3), atol=1e-13, rtol=0)


def test_bspline_state_lives_in_the_layer() -> None:
    layer = KANLayer(3, 2, 5, 3)
    assert layer.edge_basis.knots is layer.knots and list(layer.state_dict()) == [
        "coef", "scale_base", "scale_spline", "knots", "mask"]
    layer.double()
    assert layer.edge_basis.knots is layer.knots and layer.edge_basis.plan.pieces.dtype == F64


# ------------------------------------------------------------------ another basis in a layer
class PolynomialBasis(Basis):
    """Monomials ``x^n``, ``n = 0 .. degree``: the smallest complete Basis (no grid)."""

    def __init__(self, in_dim: int, degree: int) -> None:
        super().__init__(in_dim)
        self.degree = degree

    n_basis = property(lambda self: self.degree + 1)
    grid_size = property(lambda self: self.degree)
    domain = property(lambda self: torch.tensor([[-1.0, 1.0]] * self.in_dim))

    def evaluate(self, x: torch.Tensor, deriv: int = 0) -> torch.Tensor:
        n = torch.arange(self.n_basis, dtype=x.dtype, device=x.device)
        factor = torch.ones_like(n)
        for r in range(deriv):
            factor = factor * (n - r)
        return factor * x.unsqueeze(-1) ** (n - deriv).clamp(min=0)


def test_a_new_basis_is_one_class() -> None:
    layer = KANLayer(3, 2, basis=PolynomialBasis(3, 4), dtype=F64, generator=torch.Generator().manual_seed(0))
    assert layer.coef.shape == (2, 3, 5) and "knots" not in layer.state_dict()
    with torch.no_grad():
        layer.coef.normal_(generator=torch.Generator().manual_seed(1))
    x = torch.rand(16, 3, dtype=F64) * 2 - 1
    powers = x.unsqueeze(-1) ** torch.arange(5, dtype=F64)
    phi = layer.scale_spline * torch.einsum("bin,oin->boi", powers, layer.coef)
    phi = phi + layer.scale_base * torch.nn.functional.silu(x).unsqueeze(1)
    torch.testing.assert_close(layer(x), phi.sum(-1))
    torch.testing.assert_close(layer.edge_activations(x), phi)
    # forward-mode derivatives through the default local(): d/dt layer(x + t v) at t = 0
    v = torch.randn(1, 16, 3, dtype=F64)
    _, dy, _ = layer.forward_derivatives(x, v)
    t = torch.zeros(16, 1, dtype=F64, requires_grad=True)
    y = layer(x + t * v[0])
    want = torch.stack([torch.autograd.grad(y[:, o].sum(), t, retain_graph=True)[0][:, 0] for o in range(2)], 1)
    torch.testing.assert_close(dy[0], want)
    with pytest.raises(NotImplementedError, match="no grid"):
        layer.update_grid_from_samples(x)
    with pytest.raises(ValueError, match="in_dim"):
        KANLayer(2, 2, basis=PolynomialBasis(3, 4))
    basis = PolynomialBasis(2, 3)
    KANLayer(2, 1, basis=basis)
    with pytest.raises(ValueError, match="already belongs to a layer"):
        KANLayer(2, 1, basis=basis)
