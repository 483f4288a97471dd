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

from typing import Callable, Optional, Sequence

import torch

from . import native

__all__ = [
    "uniform_grid_points",
    "extend_grid",
    "grid_points_from_samples",
    "resample_grid_points",
    "bspline_basis",
    "bspline_basis_local",
    "spline_eval",
    "fit_coef",
    "refit_matrix",
    "solve_dtype",
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


def resample_grid_points(points: torch.Tensor, n_intervals: int) -> torch.Tensor:
    """Piecewise-linear resampling of sorted grid points ``(in_dim, m)`` to ``(in_dim, n_intervals
    + 1)``: the new points interpolate the old ones at evenly spaced fractional indices, so an
    adapted grid keeps its density profile, and an integer multiple of the old interval count
    keeps every old point (up to round-off)."""
    m = points.shape[1]
    pos = torch.linspace(0, m - 1, n_intervals + 1, dtype=points.dtype, device=points.device)
    lo = pos.floor().long().clamp(max=m - 2)
    frac = pos - lo.to(points.dtype)
    return points[:, lo] * (1 - frac) + points[:, lo + 1] * frac


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
    padded = extend_grid(knots, k)
    if native.applies(x) and knots.device == x.device and knots.dtype == x.dtype and n_basis > 0:  # one C loop
        out = native.deboor(x, padded, k)
        if out is not None:
            return out
    span = torch.searchsorted(padded, x.detach().T.contiguous(), right=True).T - 1  # (batch, in), padded index
    inside = ((span >= k) & (span <= n_knots + k - 2)).unsqueeze(-1)  # t_0 <= x < t_last
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
    dense = values.new_zeros(x.shape[0], in_dim, n_basis + 2 * k).scatter(2, index, values * inside)
    return dense[..., k : k + n_basis]


def spline_eval(x: torch.Tensor, knots: torch.Tensor, coef: torch.Tensor, k: int) -> torch.Tensor:
    """Per-edge spline values ``sum_i coef[o, j, i] B_i(x_j)``.

    ``x``: ``(batch, in_dim)``; ``coef``: ``(out_dim, in_dim, n_basis)``.
    Returns ``(batch, out_dim, in_dim)``.
    """
    return torch.einsum("bjn,ojn->boj", bspline_basis_local(x, knots, k), coef)


# Rows per chunk of the QR below: a chunk's (in_dim, rows, n_cols) matrix stays under this many elements.
_QR_CHUNK_ELEMENTS = 1 << 22


def solve_dtype(device: torch.device) -> torch.dtype:
    """The dtype least-squares refits run in on ``device``: float64, except on Apple's MPS
    backend, which has no float64 (float32 there, with a rank cutoff scaled to float32's precision)."""
    return torch.float32 if torch.device(device).type == "mps" else torch.float64


def _triangular_factor(
    rows: torch.Tensor, columns: Callable[[torch.Tensor], torch.Tensor], in_dim: int, n_cols: int
) -> torch.Tensor:
    """``R`` ``(in_dim, n_cols, n_cols)`` with ``R^T R = M^T M``, where ``M = columns(rows)`` is
    ``(in_dim, batch, n_cols)`` for sample rows ``(batch, ...)``. QR over row chunks (TSQR):
    each chunk is stacked under the previous ``R`` and factored again, so memory stays bounded
    and no Gram matrix is formed (its condition number is the square of ``M``'s)."""
    step = max(1, _QR_CHUNK_ELEMENTS // max(1, in_dim * n_cols))
    r: Optional[torch.Tensor] = None
    for start in range(0, rows.shape[0], step):
        block = columns(rows[start : start + step])
        r = torch.linalg.qr(block if r is None else torch.cat([r, block], dim=1), mode="r").R
    if r is None:
        raise ValueError("no samples to fit the spline coefficients on")
    if r.shape[1] < n_cols:  # fewer samples than columns: pad to square (rank-deficient, see below)
        r = torch.cat([r, r.new_zeros(in_dim, n_cols - r.shape[1], n_cols)], dim=1)
    return r


def _lstsq_from_factor(r: torch.Tensor, n_left: int) -> torch.Tensor:
    """Minimum-norm ``argmin_C ||A C - Y||`` from ``R`` ``(in_dim, n, n)`` of ``[A | Y]`` (``A``'s
    ``n_left`` columns first). Returns ``C`` ``(in_dim, n_left, n - n_left)``.

    A truncated pseudo-inverse of ``A``'s triangular factor: singular directions below
    ``rcond * sigma_max`` (1e-10 in float64, 1e-5 in float32) are dropped. Basis functions that
    no sample touches, or that the samples cannot tell apart, get the minimum-norm share (0 when
    untouched) instead of blowing up; every direction above the cut is solved to the dtype's
    precision. Truncation is a projection, so refitting a fit on the same samples reproduces it
    (a ridge would shrink it again). Measured on grids adapted to lognormal, Cauchy and tied
    samples: the data's directions lie above 1e-6, the numerically null ones below 1e-16."""
    rcond = 1e-10 if r.dtype == torch.float64 else 1e-5
    u, sv, vh = torch.linalg.svd(r[:, :n_left, :n_left])
    inv = torch.where(sv > rcond * sv[:, :1], 1.0 / sv.clamp(min=torch.finfo(sv.dtype).tiny), 0.0)
    return vh.mT @ (inv.unsqueeze(-1) * (u.mT @ r[:, :n_left, n_left:]))


def fit_coef(x: torch.Tensor, y: torch.Tensor, knots: torch.Tensor, k: int) -> torch.Tensor:
    """Least-squares spline coefficients: ``argmin_c sum_b (sum_i c_i B_i(x_bj) - y_boj)^2``.

    ``x``: ``(batch, in_dim)``; ``y``: ``(batch, out_dim, in_dim)``.
    Returns ``coef`` ``(out_dim, in_dim, n_basis)`` in ``y``'s dtype, on ``x``'s device.

    Every sample counts. Solved per input by a QR of ``[basis | y]`` over row chunks in
    :func:`solve_dtype` (float64 where the device has it), never through the normal equations;
    see :func:`_lstsq_from_factor` for what happens to coefficients the samples do not determine.
    """
    dt = solve_dtype(x.device)
    in_dim, n_out, n_basis = x.shape[1], y.shape[1], knots.shape[1] - k - 1
    kn = knots.to(dt)
    rows = torch.cat([x.to(dt), y.to(dt).transpose(1, 2).flatten(1)], dim=1)  # (batch, in + in * out)

    def columns(chunk: torch.Tensor) -> torch.Tensor:  # (in, b, n_basis + out)
        xs, ys = chunk[:, :in_dim], chunk[:, in_dim:].unflatten(1, (in_dim, n_out))
        return torch.cat([bspline_basis_local(xs, kn, k), ys], dim=-1).transpose(0, 1)

    sol = _lstsq_from_factor(_triangular_factor(rows, columns, in_dim, n_basis + n_out), n_basis)
    return sol.permute(2, 0, 1).to(y.dtype).contiguous()


def refit_matrix(x: torch.Tensor, old_knots: torch.Tensor, new_knots: torch.Tensor, k: int) -> torch.Tensor:
    """The linear map from old to new spline coefficients that keeps every spline on ``x``.

    ``x``: ``(batch, in_dim)`` samples; ``old_knots``, ``new_knots``: ``(in_dim, n_old + k + 1)``
    and ``(in_dim, n_new + k + 1)``. Returns ``P`` ``(in_dim, n_new, n_old)`` such that
    ``coef_new[o, i] = P[i] @ coef_old[o, i]`` is the least-squares fit (on all of ``x``) of
    every old spline, whatever the number of outputs: the fit of ``[B_new | B_old]``'s QR costs
    ``O(batch)`` per input and never evaluates the ``(batch, out, in)`` edge values. When the old
    spline space lies inside the new one (knots refined by an integer factor, or the same
    grid), the refit reproduces the old splines up to round-off. In :func:`solve_dtype`.
    """
    dt = solve_dtype(x.device)
    old, new = old_knots.to(dt), new_knots.to(dt)
    n_new, n_old = new.shape[1] - k - 1, old.shape[1] - k - 1

    def columns(chunk: torch.Tensor) -> torch.Tensor:  # (in, b, n_new + n_old)
        return torch.cat([bspline_basis_local(chunk, new, k), bspline_basis_local(chunk, old, k)], dim=-1).transpose(0, 1)

    r = _triangular_factor(x.detach().to(dt), columns, x.shape[1], n_new + n_old)
    return _lstsq_from_factor(r, n_new)
