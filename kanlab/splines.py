"""Pure tensor math for B-splines: knot grids, the basis, least-squares coefficients.

Nothing here owns state; every function takes tensors and returns tensors on the same device and
dtype. Conventions used throughout kanlab:

* A layer with ``in_dim`` inputs, ``grid_size`` intervals and spline order ``k`` keeps a knot
  tensor ``knots`` of shape ``(in_dim, grid_size + 2k + 1)``: the ``grid_size + 1`` *grid points*
  (the interval ends inside the grid range) extended by ``k`` knots on each side.
* The basis has ``n_basis = grid_size + k`` functions per input.
* On the grid range ``[knots[:, k], knots[:, -k-1]]`` the basis is a partition of unity. Over the
  ``k`` extension intervals on each side the basis tapers off, and beyond the outermost knots every
  basis function is exactly 0 (so the spline part of an edge is 0 there; values stay finite).
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch

__all__ = [
    "uniform_grid_points",
    "extend_grid",
    "grid_points_from_samples",
    "bspline_basis",
    "bspline_basis_local",
    "spline_eval",
    "fit_coef",
    "quantile_rows",
]


def uniform_grid_points(
    in_dim: int,
    grid_size: int,
    grid_range: Sequence[float],
    *,
    dtype: Optional[torch.dtype] = None,
    device: Optional[torch.device] = None,
) -> torch.Tensor:
    """Uniform grid points: ``(in_dim, grid_size + 1)`` evenly spaced over ``grid_range``."""
    lo, hi = float(grid_range[0]), float(grid_range[1])
    pts = torch.linspace(lo, hi, grid_size + 1, dtype=dtype, device=device)
    return pts.unsqueeze(0).expand(in_dim, -1).contiguous()


def extend_grid(grid_points: torch.Tensor, k: int) -> torch.Tensor:
    """Add ``k`` knots on each side of ``grid_points`` ``(in_dim, G + 1)`` -> ``(in_dim, G + 2k + 1)``.

    The extension knots are spaced by the mean grid spacing of each input, so an adapted grid with
    a very short end interval still gets a well-spread extension.
    """
    if k == 0:
        return grid_points
    n = grid_points.shape[1] - 1
    h = (grid_points[:, -1:] - grid_points[:, :1]) / n
    steps = torch.arange(1, k + 1, dtype=grid_points.dtype, device=grid_points.device)
    left = grid_points[:, :1] - h * steps.flip(0)
    right = grid_points[:, -1:] + h * steps
    return torch.cat([left, grid_points, right], dim=1)


def grid_points_from_samples(x: torch.Tensor, grid_size: int, grid_eps: float) -> torch.Tensor:
    """Grid points adapted to samples, as pykan does: a blend of quantiles and a uniform grid.

    ``x``: ``(batch, in_dim)``. Returns ``(in_dim, grid_size + 1)``:
    ``grid_eps * uniform(min, max) + (1 - grid_eps) * quantiles``. ``grid_eps = 1`` gives a uniform
    grid over the sample range, ``grid_eps = 0`` pure sample quantiles. An input whose samples are
    all equal gets a grid of width 2 centred on that value, so the grid never collapses.
    """
    xs = torch.sort(x.detach(), dim=0).values  # (batch, in)
    batch = xs.shape[0]
    idx = torch.linspace(0, batch - 1, grid_size + 1, dtype=torch.float64, device=x.device).round().long()
    adaptive = xs[idx].T  # (in, G+1)
    lo, hi = xs[0], xs[-1]
    width = hi - lo
    flat = width <= 1e-8 * torch.clamp(torch.maximum(lo.abs(), hi.abs()), min=1.0)
    lo = torch.where(flat, lo - 1.0, lo)
    hi = torch.where(flat, hi + 1.0, hi)
    frac = torch.linspace(0, 1, grid_size + 1, dtype=x.dtype, device=x.device)
    uniform = lo[:, None] + (hi - lo)[:, None] * frac  # (in, G+1)
    adaptive = torch.where(flat[:, None], uniform, adaptive)
    return grid_eps * uniform + (1.0 - grid_eps) * adaptive


def _safe_reciprocal(den: torch.Tensor) -> torch.Tensor:
    """``1 / den`` with the Cox-de Boor convention that a zero-length knot span contributes 0."""
    zero = den == 0
    return torch.where(zero, torch.zeros_like(den), 1.0 / torch.where(zero, torch.ones_like(den), den))


def bspline_basis(x: torch.Tensor, knots: torch.Tensor, k: int) -> torch.Tensor:
    """Exact B-spline basis of order ``k`` by the Cox-de Boor recursion (the reference path).

    ``x``: ``(batch, in_dim)``; ``knots``: ``(in_dim, n_knots)``, non-decreasing per row.
    Returns ``(batch, in_dim, n_knots - k - 1)``. Intervals are half-open ``[t_i, t_{i+1})``;
    repeated knots follow the ``0 / 0 = 0`` convention, as in de Boor's and scipy's definition.
    Every level touches every basis function; :func:`bspline_basis_local` computes only the
    ``k + 1`` non-zero ones and is what layers use.
    """
    diff = x.unsqueeze(-1) - knots  # (batch, in, n_knots): x - t_i
    basis = ((diff[..., :-1] >= 0) & (diff[..., 1:] < 0)).to(x.dtype)
    for p in range(1, k + 1):
        inv_left = _safe_reciprocal(knots[:, p:-1] - knots[:, : -(p + 1)])
        inv_right = _safe_reciprocal(knots[:, p + 1 :] - knots[:, 1:-p])
        basis = diff[..., : -(p + 1)] * (inv_left * basis[..., :-1]) - diff[..., p + 1 :] * (inv_right * basis[..., 1:])
    return basis


def bspline_basis_local(x: torch.Tensor, knots: torch.Tensor, k: int) -> torch.Tensor:
    """The same exact basis as :func:`bspline_basis`, evaluating only the ``k + 1`` non-zeros.

    ``x``: ``(batch, in_dim)``; ``knots``: ``(in_dim, n_knots)``. Returns
    ``(batch, in_dim, n_knots - k - 1)``. Each input's knot span ``t_j <= x < t_{j+1}`` is found
    by ``searchsorted``; de Boor's triangular scheme then gives ``B_{j-k} .. B_j`` on
    ``(batch, in_dim, k + 1)`` tensors (its denominators are never 0, since the span has positive
    length) and a scatter writes them into the dense basis, so the cost no longer grows with the
    grid except for that final write. Knots are padded by ``k`` on each side so every span has
    its ``2k`` neighbouring knots; basis functions that would need the padding are dropped.
    Differentiable to any order in ``x`` (the span lookup is piecewise constant).
    """
    in_dim, n_knots = knots.shape
    n_basis = n_knots - k - 1
    h = (knots[:, -1:] - knots[:, :1]) / (n_knots - 1)
    steps = torch.arange(1, k + 1, dtype=knots.dtype, device=knots.device)
    padded = torch.cat([knots[:, :1] - h * steps.flip(0), knots, knots[:, -1:] + h * steps], dim=1)
    span = torch.searchsorted(padded, x.detach().T.contiguous(), right=True).T - 1  # (batch, in), padded index
    inside = ((span >= k) & (span <= n_knots + k - 2)).to(x.dtype).unsqueeze(-1)  # t_0 <= x < t_last
    span = span.clamp(k, n_knots + k - 2)
    offsets = torch.arange(1 - k, k + 1, device=x.device)
    near = torch.gather(padded.unsqueeze(0).expand(x.shape[0], -1, -1), 2, span.unsqueeze(-1) + offsets)
    # clamped to the knot range: far outside it the recursion would overflow to inf * 0 = NaN
    xe = torch.minimum(torch.maximum(x, knots[:, 0]), knots[:, -1]).unsqueeze(-1)
    left = xe - near[..., :k].flip(-1)  # left[p-1] = x - t_{j+1-p}
    right = near[..., k:] - xe  # right[p-1] = t_{j+p} - x
    values = torch.ones_like(xe)
    zero = torch.zeros_like(xe)
    for p in range(1, k + 1):
        r, lf = right[..., :p], left[..., :p].flip(-1)
        temp = values / (r + lf)
        values = torch.cat([r * temp, zero], -1) + torch.cat([zero, lf * temp], -1)
    index = (span - k).unsqueeze(-1) + torch.arange(k + 1, device=x.device)  # padded basis index
    dense = x.new_zeros(x.shape[0], in_dim, n_basis + 2 * k).scatter(2, index, values * inside)
    return dense[..., k : k + n_basis]


def spline_eval(x: torch.Tensor, knots: torch.Tensor, coef: torch.Tensor, k: int) -> torch.Tensor:
    """Per-edge spline values ``sum_i coef[o, j, i] B_i(x_j)``.

    ``x``: ``(batch, in_dim)``; ``coef``: ``(out_dim, in_dim, n_basis)``.
    Returns ``(batch, out_dim, in_dim)``.
    """
    return torch.einsum("bjn,ojn->boj", bspline_basis_local(x, knots, k), coef)


def fit_coef(
    x: torch.Tensor,
    y: torch.Tensor,
    knots: torch.Tensor,
    k: int,
    ridge: float = 1e-12,
) -> torch.Tensor:
    """Least-squares spline coefficients: ``argmin_c sum_b (sum_i c_i B_i(x_bj) - y_boj)^2``.

    ``x``: ``(batch, in_dim)``; ``y``: ``(batch, out_dim, in_dim)``.
    Returns ``coef`` ``(out_dim, in_dim, n_basis)`` in ``y``'s dtype, on ``x``'s device.

    Solved per input through the normal equations in float64 with a tiny relative ridge, which
    makes rank-deficient systems (basis functions with no samples in their support) well posed:
    unsupported coefficients go to 0 instead of blowing up. Uses only operations available on
    every device (no CPU round-trip, no LAPACK driver that needs full rank).
    """
    basis = bspline_basis(x.to(torch.float64), knots.to(torch.float64), k)  # (b, in, n)
    a = basis.permute(1, 0, 2)  # (in, b, n)
    rhs = y.to(torch.float64).permute(2, 0, 1)  # (in, b, out)
    gram = a.transpose(1, 2) @ a  # (in, n, n)
    n_basis = gram.shape[-1]
    scale = gram.diagonal(dim1=1, dim2=2).mean(-1).clamp(min=1e-300)  # (in,)
    eye = torch.eye(n_basis, dtype=gram.dtype, device=gram.device)
    gram = gram + (ridge * scale)[:, None, None] * eye
    atb = a.transpose(1, 2) @ rhs  # (in, n, out)
    chol, info = torch.linalg.cholesky_ex(gram)
    if bool((info == 0).all()):
        sol = torch.cholesky_solve(atb, chol)
    else:  # numerically singular despite the ridge: fall back to the pseudo-inverse
        sol = torch.linalg.pinv(gram, hermitian=True) @ atb
    return sol.permute(2, 0, 1).to(y.dtype).contiguous()  # (out, in, n)


def quantile_rows(x: torch.Tensor, n: int) -> torch.Tensor:
    """At most ``n`` rows of ``x`` ``(batch, in_dim)``: each column's sorted values at evenly spaced
    ranks, so every input's sample range and density are kept. Per-input spline fits (one
    column at a time) then cost ``O(n)`` instead of ``O(batch)`` in time and memory."""
    if x.shape[0] <= n:
        return x
    xs = torch.sort(x, dim=0).values
    idx = torch.linspace(0, x.shape[0] - 1, n, dtype=torch.float64, device=x.device).round().long()
    return xs[idx]
