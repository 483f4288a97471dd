"""The fast path: local B-spline evaluation and a memory-lean fused spline product.

Every input ``x`` of a B-spline layer touches only ``k + 1`` of the ``n_basis = G + k`` basis
functions. This module evaluates just those, as a polynomial in the position of ``x`` inside its
knot interval, and contracts them with the coefficients without keeping the basis for backward.

* :class:`LocalBasis` is a *plan* built once per grid (from the layer's knots): for a uniform grid
  one ``(k + 1, k + 1)`` matrix of cardinal B-spline pieces; for an adapted grid a table of
  per-interval polynomials ``(in_dim, n_intervals, k + 1, k + 1)``. On the knots' interval
  ``[t_j, t_{j+1})`` with ``f = (x - t_j) / (t_{j+1} - t_j)`` the non-zero basis values are
  ``B_{j-k+m}(x) = sum_d f^d C[j, d, m]`` for ``m = 0..k``. Uniform grids need no search (the
  interval is ``floor((x - t_0) / h)``), adapted ones one ``searchsorted``.
* :func:`spline_linear` computes ``y[b, o] = sum_{i,n} B_n(x[b, i]) w[o, i * n_basis + n]`` through
  a custom ``autograd.Function`` that saves only ``x`` and ``w`` and recomputes the local basis in
  backward. Its backward is written in differentiable tensor operations, so second derivatives
  (``create_graph=True``, physics-informed losses) work. Two formulations, chosen per shape:
  ``"dense"`` writes the ``k + 1`` values into the dense basis and uses one matrix product (best
  for small grids), ``"sparse"`` gathers only the ``k + 1`` coefficient rows per input (cost
  independent of the grid size; best for large grids).

The reference path (:func:`kanlab.splines.bspline_basis`) is what all of this is tested against.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

from . import splines

__all__ = ["LocalBasis", "spline_linear", "choose_mode"]

# relative tolerance under which a knot row counts as uniform
_UNIFORM_RTOL = 1e-6


def _interval_polynomials(knots: torch.Tensor, k: int) -> torch.Tensor:
    """Power-basis coefficients of the ``k + 1`` non-zero B-splines on every knot interval.

    ``knots``: ``(in_dim, n_knots)``. Returns ``C`` ``(in_dim, n_knots - 1, k + 1, k + 1)`` in
    float64 with ``B_{j-k+m}(t_j + f (t_{j+1} - t_j)) = sum_d f^d C[i, j, d, m]``; basis indices
    outside ``0..n_basis-1`` and zero-length intervals get zero coefficients. Computed by sampling
    the exact (Cox-de Boor) basis at ``k + 1`` points per interval and solving the Vandermonde
    system, which is exact up to round-off for polynomials of degree ``k``.
    """
    kn = knots.to(torch.float64)
    in_dim, n_knots = kn.shape
    n_int, n_basis = n_knots - 1, n_knots - k - 1
    fq = (torch.arange(k + 1, dtype=torch.float64, device=kn.device) + 0.5) / (k + 1)  # (k+1,)
    left, width = kn[:, :-1], kn[:, 1:] - kn[:, :-1]  # (in, n_int)
    xq = left[..., None] + width[..., None] * fq  # (in, n_int, k+1)
    basis = splines.bspline_basis(xq.reshape(in_dim, -1).T, kn, k)  # (n_int*(k+1), in, n_basis)
    basis = basis.reshape(n_int, k + 1, in_dim, n_basis).permute(2, 0, 1, 3)  # (in, n_int, q, n)
    idx = torch.arange(n_int, device=kn.device)[:, None] - k + torch.arange(k + 1, device=kn.device)  # (n_int, m)
    valid = (idx >= 0) & (idx < n_basis)
    local = torch.gather(basis, 3, idx.clamp(0, n_basis - 1)[None, :, None, :].expand(in_dim, -1, k + 1, -1))
    local = local * valid[None, :, None, :]  # (in, n_int, q, m)
    vander = fq[:, None] ** torch.arange(k + 1, dtype=torch.float64, device=kn.device)  # (q, d)
    coef = torch.linalg.solve(vander, local)  # (in, n_int, d, m)
    return coef * (width > 0)[..., None, None]


@dataclass
class LocalBasis:
    """Everything needed to evaluate the ``k + 1`` non-zero basis functions of a knot grid.

    Build with :meth:`from_knots`. Uniform grids (every row equally spaced; rows may differ) keep
    ``origin`` and ``inv_h`` per input and one piece matrix ``pieces (k + 1, k + 1)``; adapted
    grids keep ``knots``, ``inv_width (in_dim, n_intervals)`` and ``pieces (in_dim, n_intervals,
    k + 1, k + 1)``. All tensors live on the knots' device and dtype.
    """

    k: int
    n_basis: int
    uniform: bool
    pieces: torch.Tensor
    knots: torch.Tensor
    origin: Optional[torch.Tensor] = None
    inv_h: Optional[torch.Tensor] = None
    inv_width: Optional[torch.Tensor] = None
    consts: Optional[list] = None

    @staticmethod
    def from_knots(knots: torch.Tensor, k: int, force_adapted: bool = False) -> "LocalBasis":
        """Plan for ``knots`` ``(in_dim, n_knots)`` of order ``k``. ``force_adapted`` skips the
        uniform detection (tests use it to run the searchsorted path on uniform grids)."""
        kn = knots.detach()
        n_knots = kn.shape[1]
        steps = kn[:, 1:] - kn[:, :-1]
        h = (kn[:, -1] - kn[:, 0]) / (n_knots - 1)
        uniform = (not force_adapted) and bool(
            ((steps - h[:, None]).abs() <= _UNIFORM_RTOL * h.abs()[:, None]).all() and (h > 0).all()
        )
        if uniform:
            unit = torch.arange(2 * k + 2, dtype=torch.float64, device=kn.device)[None]
            pieces = _interval_polynomials(unit, k)[0, k]  # the middle interval: all k+1 functions exist
            return LocalBasis(
                k, n_knots - k - 1, True, pieces.to(kn.dtype), kn,
                origin=kn[:, 0].clone(), inv_h=1.0 / h, consts=pieces.tolist(),
            )
        width = steps.to(torch.float64)
        inv_width = torch.where(width > 0, 1.0 / torch.where(width > 0, width, 1.0), 0.0)
        pieces = _interval_polynomials(kn, k)
        return LocalBasis(k, n_knots - k - 1, False, pieces.to(kn.dtype), kn, inv_width=inv_width.to(kn.dtype))

    def window(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Locate ``x`` ``(batch, in_dim)`` in the knots: the interval index ``j`` clamped to the
        knot range ``(batch, in_dim)`` (long), the fractional position ``f`` in it ``(batch,
        in_dim, 1)`` (differentiable in ``x``, finite everywhere) and the mask ``inside``
        ``(batch, in_dim, 1)`` (1 where ``t_0 <= x < t_last``, else 0)."""
        n_int = self.knots.shape[1] - 1
        if self.uniform:
            t = (x - self.origin) * self.inv_h
            j = torch.floor(t.detach())
            f = t - j  # in [0, 1) wherever x is
            j = j.long()
        else:
            j = torch.searchsorted(self.knots, x.detach().T.contiguous(), right=True).T - 1
        inside = ((j >= 0) & (j < n_int)).unsqueeze(-1)
        j = j.clamp(0, n_int - 1)
        if not self.uniform:
            rows = torch.arange(x.shape[1], device=x.device)
            f = (x - self.knots[rows, j]) * self.inv_width[rows, j]
            f = torch.where(inside[..., 0], f, torch.zeros_like(f))  # far outside f^d would overflow
        return j, f.unsqueeze(-1), inside.to(x.dtype)

    def local(self, j: torch.Tensor, f: torch.Tensor, inside: torch.Tensor, deriv: int = 0) -> torch.Tensor:
        """``deriv``-th derivative of ``B_{j-k} .. B_j`` at the located points (see :meth:`window`):
        ``(batch, in_dim, k + 1)``, by Horner's rule; 0 outside the knot range (the spline part
        vanishes there, as in the reference path). Functions with index outside ``0..n_basis-1``
        are included; the padded layout (:meth:`padded_index`) drops them."""
        k = self.k
        if self.uniform:  # constant pieces: k + 1 Horner chains on contiguous (batch, in_dim) tensors
            f2 = f.squeeze(-1)
            cols = []
            for m in range(k + 1):
                acc = self.consts[k][m] * _falling(k, deriv)
                for d in range(k - 1, deriv - 1, -1):
                    acc = acc * f2 + self.consts[d][m] * _falling(d, deriv)
                cols.append(acc if isinstance(acc, torch.Tensor) else torch.full_like(f2, acc))
            vals, scale = torch.stack(cols, dim=-1), self.inv_h[:, None]
        else:
            rows = torch.arange(j.shape[1], device=j.device)
            pieces, scale = self.pieces[rows, j], self.inv_width[rows, j][..., None]  # (b, in, d, m)
            vals = pieces[..., k, :] * _falling(k, deriv)
            for d in range(k - 1, deriv - 1, -1):
                vals = torch.addcmul(pieces[..., d, :] * _falling(d, deriv), vals, f)
        if deriv:
            inside = inside * scale**deriv
        return vals * inside

    def padded_index(self, j: torch.Tensor) -> torch.Tensor:
        """Indices ``(batch, in_dim, k + 1)`` of ``B_{j-k} .. B_j`` in the padded layout, where
        basis ``n`` sits at slot ``n + k`` of ``n_basis + 2k`` (the ``k`` slots on each side take
        the functions that do not exist and are dropped)."""
        return j.unsqueeze(-1) + torch.arange(self.k + 1, device=j.device)

    def dense(self, x: torch.Tensor, deriv: int = 0) -> torch.Tensor:
        """The dense basis (or its ``deriv``-th derivative) ``(batch, in_dim, n_basis)``, equal to
        the reference path's. Eagerly a scatter into the padded layout; under ``torch.compile``
        ``k + 1`` selects, which fuse into one pass with no scatter."""
        j, f, inside = self.window(x)
        vals = self.local(j, f, inside, deriv)
        k, nb = self.k, self.n_basis
        if not torch.compiler.is_compiling():
            padded = vals.new_zeros(*x.shape, nb + 2 * k).scatter_(2, self.padded_index(j), vals)
            return padded[..., k : k + nb]
        m = torch.arange(nb, device=x.device) - (j - k).unsqueeze(-1)  # position in the window
        out = torch.zeros_like(vals[..., :1]).expand(*vals.shape[:-1], nb)
        for mm in range(k + 1):
            out = torch.where(m == mm, vals[..., mm : mm + 1], out)
        return out


def _falling(d: int, r: int) -> float:
    """``d (d-1) ... (d-r+1)``: the factor of ``f^(d-r)`` in the ``r``-th derivative of ``f^d``."""
    out = 1.0
    for i in range(r):
        out *= d - i
    return out


def choose_mode(n_basis: int, k: int, out_dim: int) -> str:
    """``"sparse"`` when gathering ``k + 1`` coefficient rows per input beats one dense product
    over all ``n_basis`` functions, else ``"dense"``. A gathered row costs several times a dense
    multiply-add (no blocking), and rows shorter than a cache line waste most of each load; the
    threshold was set from ``benchmarks/speed.py`` config e."""
    return "sparse" if n_basis >= 6 * (k + 1) else "dense"


def _pad(w: torch.Tensor, in_dim: int, k: int) -> torch.Tensor:
    """``(rows, in_dim * n_basis)`` -> ``(rows, in_dim, n_basis + 2k)``: the padded layout."""
    return F.pad(w.reshape(w.shape[0], in_dim, -1), (k, k))


def _table_index(plan: LocalBasis, j: torch.Tensor) -> torch.Tensor:
    """Rows ``(batch, in_dim * (k + 1))`` of the padded table ``(in_dim * (n_basis + 2k), out)``."""
    offsets = torch.arange(j.shape[1], device=j.device) * (plan.n_basis + 2 * plan.k)
    return (plan.padded_index(j) + offsets[:, None]).reshape(j.shape[0], -1)


class _SplineLinear(torch.autograd.Function):
    """``y = dense_basis(x) @ w.T`` saving only ``x`` and ``w``; differentiable backward."""

    @staticmethod
    def forward(ctx, x, w, plan, mode):  # type: ignore[override]
        ctx.save_for_backward(x, w)
        ctx.plan, ctx.mode = plan, mode
        b = x.shape[0]
        if mode == "dense":
            return plan.dense(x).reshape(b, -1) @ w.T
        j, f, inside = plan.window(x)
        table = _pad(w, x.shape[1], plan.k).reshape(w.shape[0], -1).T
        vals = plan.local(j, f, inside).reshape(b, -1)
        return F.embedding_bag(_table_index(plan, j), table, per_sample_weights=vals, mode="sum")

    @staticmethod
    def backward(ctx, gy):  # type: ignore[override]
        x, w = ctx.saved_tensors
        plan, mode = ctx.plan, ctx.mode
        b, in_dim = x.shape
        k, nb = plan.k, plan.n_basis
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        j, f, inside = plan.window(x)
        gx = gw = None
        if mode == "dense":
            if need_w:
                gw = gy.T @ plan.dense(x).reshape(b, -1)
            if need_x:
                g_basis = _pad(gy @ w, in_dim, k)  # (b, in, nb + 2k)
                gx = (torch.gather(g_basis, 2, plan.padded_index(j)) * plan.local(j, f, inside, 1)).sum(-1)
            return gx, gw, None, None
        rows = _table_index(plan, j).reshape(-1)
        if need_w:
            vals = plan.local(j, f, inside).reshape(b, -1, 1)
            contrib = (vals * gy[:, None, :]).reshape(-1, gy.shape[1])  # (b * in * (k+1), out)
            table = gy.new_zeros(in_dim * (nb + 2 * k), gy.shape[1]).index_add(0, rows, contrib)
            gw = table.reshape(in_dim, nb + 2 * k, -1)[:, k : k + nb].reshape(-1, gy.shape[1]).T
        if need_x:
            table = _pad(w, in_dim, k).reshape(w.shape[0], -1).T
            picked = F.embedding(rows, table).reshape(b, -1, gy.shape[1])  # (b, in * (k+1), out)
            g_local = (picked * gy[:, None, :]).sum(-1).reshape(b, in_dim, k + 1)
            gx = (g_local * plan.local(j, f, inside, 1)).sum(-1)
        return gx, gw, None, None


def spline_linear(x: torch.Tensor, w: torch.Tensor, plan: LocalBasis, mode: str = "auto") -> torch.Tensor:
    """``sum_{i,n} B_n(x[b, i]) w[o, i * n_basis + n]``: ``x (batch, in_dim)``, ``w (out, in_dim *
    n_basis)`` -> ``(batch, out)``. ``mode``: ``"dense"``, ``"sparse"`` or ``"auto"``
    (:func:`choose_mode`). Saves only ``x`` and ``w`` for backward; twice differentiable."""
    if mode == "auto":
        mode = choose_mode(plan.n_basis, plan.k, w.shape[0])
    if mode not in ("dense", "sparse"):
        raise ValueError(f"mode must be 'auto', 'dense' or 'sparse', got {mode!r}")
    return _SplineLinear.apply(x, w, plan, mode)
