"""Per-edge values of small layers (kanlab/edgewise.py) against the reference einsum."""
import pytest
import torch

from kanlab import KAN, edgewise, kernels, splines
from kanlab.regularizers import forward_with_reg

F64 = torch.float64


def knots(adapted: bool, k: int = 3) -> torch.Tensor:
    if adapted:
        gen = torch.Generator().manual_seed(k)
        pts = torch.sort(torch.rand(3, 7, generator=gen, dtype=F64) * 2 - 1, dim=1).values
    else:
        pts = splines.uniform_grid_points(3, 6, (-1, 1), dtype=F64)
    return splines.extend_grid(pts, k)


def reference(x: torch.Tensor, w: torch.Tensor, kn: torch.Tensor, k: int, base) -> torch.Tensor:
    feats = splines.bspline_basis(x, kn, k)  # (b, in, n_basis)
    if base is not None:
        feats = torch.cat([feats, base[0](x).unsqueeze(-1)], -1)
    return torch.einsum("bir,ori->boi", feats, w)


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("adapted", [False, True])
@pytest.mark.parametrize("with_base", [False, True])
def test_edge_values_equal_the_reference_with_exact_gradients(k: int, adapted: bool, with_base: bool) -> None:
    kn = knots(adapted, k)
    plan = kernels.LocalBasis.from_knots(kn, k)
    base = (torch.tanh, lambda t: 1 - torch.tanh(t) ** 2) if with_base else None
    rows = plan.n_basis + with_base
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(2, rows, 3, generator=gen, dtype=F64).requires_grad_()
    x = (torch.rand(12, 3, generator=gen, dtype=F64) * 2.6 - 1.3).requires_grad_()  # in and beyond the grid
    torch.testing.assert_close(edgewise.edge_values(x, w, plan, base), reference(x, w, kn, k, base),
                               rtol=0, atol=1e-14)
    fn = lambda x, w: edgewise.edge_values(x, w, plan, base)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, w))
    assert torch.autograd.gradgradcheck(fn, (x, w))  # create_graph recomputes differentiably
    x_fixed = x.detach()  # no gradient for x: the plan's kept input features
    assert torch.autograd.gradcheck(lambda w: edgewise.edge_values(x_fixed, w, plan, base), (w,))


def test_shapes_are_checked() -> None:
    plan = kernels.LocalBasis.from_knots(knots(False), 3)
    with pytest.raises(ValueError, match=r"w \(out, 9, in\)"):
        edgewise.edge_values(torch.zeros(5, 3, dtype=F64), torch.zeros(2, 8, 3, dtype=F64), plan)


@pytest.mark.parametrize("adapted", [False, True])
def test_the_regularised_pass_equals_the_reference_path(adapted: bool) -> None:
    """fit's lamb > 0 pass (output and regulariser) and its gradients: the fast layers' edge
    values equal fast=False's, repeatedly on the same inputs (the input layer's kept features)."""
    x = torch.rand(200, 2, dtype=F64) * 2 - 1
    fast = KAN([2, 4, 1], grid=5, k=3, seed=0).double()
    if adapted:
        fast.update_grid_from_samples(x ** 3)
    slow = KAN([2, 4, 1], grid=5, k=3, seed=0, fast=False).double()
    slow.load_state_dict(fast.state_dict())
    for _ in range(2):
        outs = []
        for model in (fast, slow):
            pred, reg = forward_with_reg(model.network if hasattr(model, "network") else model, x)
            params = [p for p in model.parameters() if p.requires_grad]
            outs.append((pred, reg) + torch.autograd.grad(pred.pow(2).mean() + reg, params))
        for a, b in zip(*outs):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
        with torch.no_grad():
            fast.layers[0].coef.mul_(1.1)
            slow.layers[0].coef.mul_(1.1)
