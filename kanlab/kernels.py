"""The fast path: local B-spline evaluation and a memory-lean fused spline product.

Every input ``x`` of a B-spline layer touches only ``k + 1`` of the ``n_basis = G + k`` basis
functions. This module evaluates just those, as a polynomial in the position of ``x`` inside its
knot interval, and contracts them with the coefficients without keeping the basis for backward.

* :class:`LocalBasis` is a *plan* built once per grid (from the layer's knots): for a uniform grid
  one ``(k + 1, k + 1)`` matrix of cardinal B-spline pieces; for an adapted grid a table of
  per-interval polynomials ``(in_dim, n_intervals, k + 1, k + 1)``. On the knots' interval
  ``[t_j, t_{j+1})`` with ``f = (x - t_j) / (t_{j+1} - t_j)`` the non-zero basis values are
  ``B_{j-k+m}(x) = sum_d f^d C[j, d, m]`` for ``m = 0..k``. Uniform grids need no search (the
  nearest knot ``round((x - t_0) / h)`` and one comparison), adapted ones a bucket table and at
  most two comparisons (:class:`_Buckets`; ``searchsorted`` for clustered knots and compiled code).
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

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from . import splines

__all__ = ["LocalBasis", "spline_linear", "choose_mode"]

# LocalBasis.window's result: interval index, position in it, inside mask
Located = Tuple[torch.Tensor, torch.Tensor, torch.Tensor]
# a residual base function folded into the product as one more basis row: (b, b'), elementwise
BaseRow = Tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]

# A knot row whose spacings all equal their mean to within _CARDINAL_ULPS ulps of it uses the one
# cardinal piece matrix (its error from the knots' own rounding stays at that level);
# within _NEAR_FRACTION of a spacing, its interval is found by arithmetic (the nearest knot, one
# comparison with its stored value) instead of searchsorted.
_CARDINAL_ULPS = 8
_NEAR_FRACTION = 0.125

def _interval_polynomials(knots: torch.Tensor, k: int) -> torch.Tensor:
    """Power-basis coefficients of the ``k + 1`` non-zero B-splines on every knot interval.

    ``knots``: ``(in_dim, n_knots)``. Returns ``C`` ``(in_dim, n_knots - 1, k + 1, k + 1)`` in
    float64 with ``B_{j-k+m}(t_j + f (t_{j+1} - t_j)) = sum_d f^d C[i, j, d, m]``; basis indices
    outside ``0..n_basis-1`` and zero-length intervals get zero coefficients. Each interval's
    ``2k + 2`` surrounding knots are taken relative to ``t_j`` in units of its width (so knots far
    from 0 lose nothing to rounding), the exact (Cox-de Boor) basis is sampled at ``k + 1``
    points and the Vandermonde system solved: exact up to round-off for degree-``k`` pieces.
    """
    kn = knots.to(torch.float64)
    in_dim, n_knots = kn.shape
    n_int, n_basis = n_knots - 1, n_knots - k - 1
    window = splines.extend_grid(kn, k).unfold(1, 2 * k + 2, 1)  # (in, n_int, 2k+2): t_{j-k} .. t_{j+k+1}
    width = kn[:, 1:] - kn[:, :-1]  # (in, n_int)
    unit = torch.where(width > 0, width, torch.ones_like(width))
    local = (window - kn[:, :-1, None]) / unit[..., None]  # interval j is [0, 1]
    powers = torch.arange(k + 1, dtype=torch.float64, device=kn.device)
    fq = (powers + 0.5) / (k + 1)  # (q,)
    basis = splines.bspline_basis(fq[:, None].expand(-1, in_dim * n_int), local.reshape(-1, 2 * k + 2), k)
    values = basis.reshape(k + 1, in_dim, n_int, k + 1).permute(1, 2, 0, 3)  # (in, n_int, q, m)
    idx = torch.arange(n_int, device=kn.device)[:, None] - k + torch.arange(k + 1, device=kn.device)  # (n_int, m)
    values = values * ((idx >= 0) & (idx < n_basis))[None, :, None, :]
    vander = fq[:, None] ** powers  # (q, d)
    coef = torch.linalg.solve(vander, values)  # (in, n_int, d, m)
    return coef * (width > 0)[..., None, None]


@dataclass
class LocalBasis:
    """Everything needed to evaluate the ``k + 1`` non-zero basis functions of a knot grid.

    Build with :meth:`from_knots`. Three independent choices, made per grid from its knots:

    * ``uniform``: every row is equally spaced to within 1/8 of a spacing, so the nearest knot
      ``round((x - t_0) / h)`` and one comparison with its stored value give the interval (exact
      even where that division rounds across a knot); otherwise eagerly a bucket table
      (:class:`_Buckets`, exact) where the knots are not clustered, else ``searchsorted``.
    * ``cardinal``: the knots are equally spaced to within a few ulps of the spacing, so one
      piece matrix ``pieces (k + 1, k + 1)`` serves every interval (as Python floats in
      ``consts``); otherwise per-interval pieces ``(in_dim, n_intervals, k + 1, k + 1)`` built
      from the stored knots, so a float32 grid that is uniform only up to rounding still equals
      the reference path to a few ulps.
    * positions ``f`` in an interval always come from the stored knots, ``(x - t_j) *
      inv_width[j]`` (on uniform grids ``(x - t_{j+1}) * inv_width[j] + 1`` when ``x`` lies just
      below the nearest knot ``t_{j+1}``), never from ``(x - t_0) / h - j`` (whose rounding grows
      with the interval count: 1.5e-5 at 200 intervals in float32).

    All tensors live on the knots' device and dtype; ``knots_t`` and ``inv_width_t`` are
    knot-major copies made at construction.
    """

    k: int
    n_basis: int
    uniform: bool
    cardinal: bool
    pieces: torch.Tensor
    knots: torch.Tensor
    inv_width: torch.Tensor
    origin: Optional[torch.Tensor] = None
    inv_h: Optional[torch.Tensor] = None
    consts: Optional[list] = None
    # the features of the last input that needed no gradient, see _input_features
    kept_input: Optional[tuple] = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        # knot-major copies (n_knots, in_dim) and (n_intervals, in_dim): window() gathers from them
        # along dim 0 with the (batch, in_dim) interval index, cheaper than advanced indexing
        self.knots_t = self.knots.T.contiguous()
        self.inv_width_t = self.inv_width.T.contiguous()
        if not self.cardinal:
            # one row per (input, interval): local() takes every point's pieces with one
            # index_select (aten::index on pieces[rows, j] cost 4x more on small layers)
            in_dim, n_int = self.inv_width.shape
            self.pieces_rows = self.pieces.reshape(in_dim * n_int, (self.k + 1) ** 2).contiguous()
            self.row_offset = torch.arange(in_dim, device=self.knots.device) * n_int
        # value and slope pieces side by side, (d, 2(k+1)) per interval (one row per (input,
        # interval) when not cardinal): dense_pair's one Horner pass yields both
        pieces = self.pieces if not self.cardinal else self.pieces.to(self.knots)
        slope = torch.zeros_like(pieces)
        slope[..., : self.k, :] = pieces[..., 1:, :] * torch.arange(1, self.k + 1, dtype=pieces.dtype,
                                                                    device=pieces.device)[:, None]
        pair = torch.cat([pieces, slope], dim=-1)
        self.pair_pieces = pair if self.cardinal else pair.reshape(self.pieces_rows.shape[0], -1).contiguous()
        self.buckets = None if self.uniform or self.knots.device.type == "meta" else _Buckets.of(self.knots)

    @staticmethod
    def from_knots(knots: torch.Tensor, k: int, force_adapted: bool = False) -> "LocalBasis":
        """Plan for ``knots`` ``(in_dim, n_knots)`` of order ``k``. ``force_adapted`` skips the
        uniform detection (tests use it to run the searchsorted path on uniform grids)."""
        kn = knots.detach()
        n_knots = kn.shape[1]
        k64 = kn.to(torch.float64)
        h = (k64[:, -1] - k64[:, 0]) / (n_knots - 1)  # (in,)
        ideal = k64[:, :1] + h[:, None] * torch.arange(n_knots, dtype=torch.float64, device=kn.device)
        dev = (k64 - ideal).abs().amax(1)  # (in,): distance from equally spaced knots
        eps = torch.finfo(kn.dtype).eps
        # spacings of a few ulps of the knots themselves cannot be told apart by arithmetic
        resolvable = h > 64 * eps * k64.abs().amax(1)
        uniform = (not force_adapted) and bool((resolvable & (dev <= _NEAR_FRACTION * h)).all())
        width = k64[:, 1:] - k64[:, :-1]  # exact: float32 knots in float64, or float64 neighbours
        # the basis depends on the knots only through their differences
        cardinal = uniform and bool(((width - h[:, None]).abs().amax(1) <= _CARDINAL_ULPS * eps * h).all())
        inv_width = torch.where(width > 0, 1.0 / torch.where(width > 0, width, 1.0), 0.0).to(kn.dtype)
        if cardinal:
            unit = torch.arange(2 * k + 2, dtype=torch.float64, device=kn.device)[None]
            pieces = _interval_polynomials(unit, k)[0, k]  # the middle interval: all k+1 functions exist
            consts = pieces.tolist()
        else:
            pieces, consts = _interval_polynomials(kn, k), None
        origin, inv_h = (kn[:, 0].clone(), (1.0 / h).to(kn.dtype)) if uniform else (None, None)
        return LocalBasis(k, n_knots - k - 1, uniform, cardinal, pieces.to(kn.dtype), kn, inv_width,
                          origin=origin, inv_h=inv_h, consts=consts)

    def window(self, x: torch.Tensor) -> Located:
        """Locate ``x`` ``(batch, in_dim)`` in the knots: the interval index ``j`` clamped to the
        knot range ``(batch, in_dim)`` (long), the fractional position ``f`` in it ``(batch,
        in_dim, 1)`` (differentiable in ``x``) and the mask ``inside`` ``(batch, in_dim, 1)`` (1
        where ``t_0 <= x < t_last``, else 0). ``x`` is clamped to the knot range first, so huge
        inputs cannot overflow (float16 at 30000, float32 at 2e38); a NaN input stays NaN in
        ``f`` and so in every basis value."""
        n_int = self.knots.shape[1] - 1
        lo_knot, hi_knot = self.knots[:, 0], self.knots[:, -1]
        inside = ((x >= lo_knot) & (x < hi_knot)).unsqueeze(-1)
        xc = torch.clamp(x, lo_knot, hi_knot)  # NaN propagates
        xd = xc.detach()
        if self.uniform:
            # the nearest knot m by arithmetic: knots lie within h/8 of equally spaced, so x lies in
            # interval m - 1 or m, and one comparison with the stored t_m tells which
            m = torch.round((xd - self.origin) * self.inv_h).nan_to_num(0.0).clamp(0, n_int).long()
            knot = self.knots_t.gather(0, m)
            below = xd < knot
            j = (m - below.long()).clamp(0, n_int - 1)
            # (x - t_{m-1}) / w = (x - t_m) / w + 1; cardinal spacings equal h to 8 ulps: no gather
            inv_w = self.inv_h if self.cardinal else self.inv_width_t.gather(0, j)
            f = torch.addcmul(below.to(x.dtype), xc - knot, inv_w)
        else:
            if self.buckets is not None and not torch.compiler.is_compiling():
                j = self.buckets.last_knot(xd, self.knots_t[0]).clamp(0, n_int - 1)
            else:
                j = (torch.searchsorted(self.knots, xd.T.contiguous(), right=True).T - 1).clamp(0, n_int - 1)
            f = (xc - self.knots_t.gather(0, j)) * self.inv_width_t.gather(0, j)
        return j, f.unsqueeze(-1), inside.to(x.dtype)

    def local(self, j: torch.Tensor, f: torch.Tensor, inside: torch.Tensor, deriv: int = 0) -> torch.Tensor:
        """``deriv``-th derivative of ``B_{j-k} .. B_j`` at the located points (see :meth:`window`):
        ``(batch, in_dim, k + 1)``, by Horner's rule; 0 outside the knot range (the spline part
        vanishes there, as in the reference path). Functions with index outside ``0..n_basis-1``
        are included; the padded layout (:meth:`padded_index`) drops them."""
        k = self.k
        if self.cardinal:  # constant pieces: k + 1 Horner chains on contiguous (batch, in_dim) tensors
            f2 = f.squeeze(-1)
            cols = []
            for m in range(k + 1):
                acc = self.consts[k][m] * _falling(k, deriv)
                for d in range(k - 1, deriv - 1, -1):
                    acc = acc * f2 + self.consts[d][m] * _falling(d, deriv)
                cols.append(acc if isinstance(acc, torch.Tensor) else torch.full_like(f2, acc))
            vals, scale = torch.stack(cols, dim=-1), self.inv_h[:, None]  # type: ignore[index]
        else:
            rows = (j + self.row_offset).reshape(-1)
            pieces = self.pieces_rows.index_select(0, rows).view(*j.shape, k + 1, k + 1)  # (b, in, d, m)
            scale = self.inv_width_t.gather(0, j)[..., None]
            vals = _scaled(pieces[..., k, :], _falling(k, deriv))
            for d in range(k - 1, deriv - 1, -1):
                vals = torch.addcmul(_scaled(pieces[..., d, :], _falling(d, deriv)), vals, f)
        if deriv:
            inside = inside * scale**deriv
        return vals * inside

    def padded_index(self, j: torch.Tensor) -> torch.Tensor:
        """Slots ``(batch, k + 1, in_dim)`` of ``B_{j-k} .. B_j`` in the padded layout, where
        basis ``n`` sits at slot ``n + k`` of ``n_basis + 2k`` (the ``k`` slots on each side take
        the functions that do not exist and are dropped)."""
        return j.unsqueeze(1) + torch.arange(self.k + 1, device=j.device)[:, None]

    def dense_t(
        self, x: torch.Tensor, deriv: int = 0, extra_row: Optional[torch.Tensor] = None,
        located: Optional[Located] = None,
    ) -> torch.Tensor:
        """The dense basis (or its ``deriv``-th derivative) in *basis-major* layout
        ``(batch, n_basis, in_dim)``: each basis slice is contiguous over the inputs, which is
        what vectorizes. ``extra_row`` ``(batch, in_dim)`` is appended as row ``n_basis``.
        Eagerly a scatter into the padded layout (functions that do not exist land in the
        padding); under ``torch.compile`` ``k + 1`` selects that fuse into one pass. ``located``:
        :meth:`window` of ``x`` if already computed."""
        j, f, inside = self.window(x) if located is None else located
        vals = self.local(j, f, inside, deriv)  # (b, in, k+1)
        k, nb = self.k, self.n_basis
        if not torch.compiler.is_compiling():
            padded = vals.new_zeros(x.shape[0], nb + 2 * k, x.shape[1])
            index, src = self.padded_index(j), vals.transpose(1, 2)
            if torch._C._functorch.is_functorch_wrapped_tensor(src):  # vmap cannot write into an unbatched buffer
                padded = padded.scatter(1, index, src)
            else:  # in place: no second buffer on the hot path
                padded.scatter_(1, index, src)
            if extra_row is None:
                return padded[:, k : k + nb]
            return torch.cat([padded[:, k : k + nb], extra_row.unsqueeze(1)], dim=1)
        m = torch.arange(nb, device=x.device, dtype=x.dtype)[:, None] - (j - k).to(x.dtype).unsqueeze(1)
        out = torch.zeros((), dtype=x.dtype, device=x.device)
        for mm in range(k + 1):
            out = torch.where(m == mm, vals[..., mm].unsqueeze(1), out)
        return out if extra_row is None else torch.cat([out, extra_row.unsqueeze(1)], dim=1)

    def dense_pair(self, x: torch.Tensor, base: Optional[BaseRow] = None,
                   located: Optional[Located] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """The basis-major features and their derivative in ``x``, each ``(batch, (n_basis [+
        1]) * in_dim)`` (the base function's value and slope as row ``n_basis`` when ``base`` is
        given): :func:`_features` of ``deriv`` 0 and 1 in one pass, sharing the interval lookup,
        the pieces and one scatter (about half the operations of two passes, which is what small
        layers pay for). Eager only: in-place writes into a fresh buffer."""
        j, f, inside = self.window(x) if located is None else located
        k, nb = self.k, self.n_basis
        b, n_in = x.shape
        if self.cardinal:
            pieces = self.pair_pieces  # (d, 2(k+1))
            slope_scale = self.inv_h[:, None]  # (in, 1)
        else:
            rows = (j + self.row_offset).reshape(-1)
            pieces = self.pair_pieces.index_select(0, rows).view(b, n_in, k + 1, 2 * (k + 1))
            slope_scale = self.inv_width_t.gather(0, j).unsqueeze(-1)  # (b, in, 1)
        acc = pieces[..., k, :]
        for d in range(k - 1, -1, -1):  # Horner's rule on values and slopes together
            acc = torch.addcmul(pieces[..., d, :], acc, f)
        scale = torch.stack(torch.broadcast_tensors(inside, inside * slope_scale), dim=-2)  # (b, in, 2, 1)
        pair = (acc.view(b, n_in, 2, k + 1) * scale).permute(0, 2, 3, 1)  # (b, 2, k+1, in)
        buf = x.new_zeros(b, 2, nb + 2 * k, n_in)
        buf.scatter_(2, self.padded_index(j).unsqueeze(1).expand(-1, 2, -1, -1), pair)
        end = k + nb
        if base is not None:  # slot k + nb pads the function n_basis, which does not exist
            buf[:, 0, end] = base[0](x)
            buf[:, 1, end] = base[1](x)
            end += 1
        return buf[:, 0, k:end].reshape(b, -1), buf[:, 1, k:end].reshape(b, -1)

    def dense(self, x: torch.Tensor, deriv: int = 0) -> torch.Tensor:
        """The dense basis (or its ``deriv``-th derivative) ``(batch, in_dim, n_basis)``, equal to
        the reference path's :func:`~kanlab.splines.bspline_basis`."""
        return self.dense_t(x, deriv).transpose(1, 2)


@dataclass
class _Buckets:
    """Where ``x`` lies among adapted knots, by arithmetic and ``reach`` comparisons instead of
    ``searchsorted`` (~4x its cost on a small layer, issue 15).

    Each input's knot range is cut into ``M`` equal buckets; ``bucket(x) = long((x - t_0) *
    scale)`` (clamped to ``0..M-1``) is monotone in ``x`` whatever its rounding, and the knots'
    own buckets are computed by the same operations. So every knot in an earlier bucket than
    ``x``'s lies below ``x``, every knot in a later one above it, and only the at most ``reach``
    knots sharing ``x``'s bucket need a comparison: the index of the last knot ``<= x`` is exact,
    equal to ``searchsorted(right=True) - 1``. ``M`` grows (4, 16, 64 buckets per knot) until no
    bucket holds more than :data:`_REACH` knots; clustered knots beyond that keep ``searchsorted``."""

    scale: torch.Tensor  # (in,)
    before_t: torch.Tensor  # (M, in) long: index of the last knot in an earlier bucket (-1: none)
    knots_t: torch.Tensor  # (n_knots + reach, in): the knots, then +inf
    reach: int

    @staticmethod
    def of(knots: torch.Tensor) -> Optional["_Buckets"]:
        """For ``knots`` ``(in_dim, n_knots)`` (sorted rows), or ``None`` (see the class)."""
        in_dim, n_knots = knots.shape
        span = knots[:, -1] - knots[:, 0]
        if not bool((span > 0).all()):
            return None
        for per_knot in (4, 16, 64):
            m = per_knot * n_knots
            scale = m / span
            own = _Buckets._bucket(knots.T, knots[:, 0], scale, m).T  # (in, n_knots), sorted rows
            reach = int(torch.zeros(in_dim, m, dtype=torch.long, device=knots.device)
                        .scatter_add_(1, own, torch.ones_like(own)).amax())
            if reach <= _REACH:
                starts = torch.arange(m, device=knots.device).expand(in_dim, m).contiguous()
                before = torch.searchsorted(own, starts, right=False) - 1  # knots in earlier buckets
                pad = knots.new_full((reach, in_dim), torch.inf)
                return _Buckets(scale, before.T.contiguous(), torch.cat([knots.T, pad]).contiguous(), reach)
        return None

    @staticmethod
    def _bucket(x: torch.Tensor, origin: torch.Tensor, scale: torch.Tensor, m: int) -> torch.Tensor:
        """``(batch, in) -> (batch, in)`` long bucket indices; ``x`` within the knot range (NaN
        lands anywhere in ``0..m-1``)."""
        return ((x - origin) * scale).long().clamp_(0, m - 1)

    def last_knot(self, x: torch.Tensor, origin: torch.Tensor) -> torch.Tensor:
        """Index of the last knot ``<= x`` for ``x`` ``(batch, in)`` inside the knot range (``-1``
        below the first; arbitrary for NaN)."""
        before = self.before_t.gather(0, self._bucket(x, origin, self.scale, self.before_t.shape[0]))
        j = before
        for r in range(1, self.reach + 1):
            j = j + (self.knots_t.gather(0, before + r) <= x)
        return j


#: the most knots one bucket of :class:`_Buckets` may hold (comparisons per located point)
_REACH = 2


def _scaled(t: torch.Tensor, c: float) -> torch.Tensor:
    """``c * t``, without an operation when ``c == 1`` (every factor of the values themselves)."""
    return t if c == 1 else t * c


def _falling(d: int, r: int) -> float:
    """``d (d-1) ... (d-r+1)``: the factor of ``f^(d-r)`` in the ``r``-th derivative of ``f^d``."""
    out = 1.0
    for i in range(r):
        out *= d - i
    return out


def choose_mode(n_basis: int, k: int, compiled: Optional[bool] = None) -> str:
    """``"sparse"`` when gathering the ``k + 1`` touched coefficient rows per input beats one
    dense product over all ``n_basis`` functions, else ``"dense"``. A gathered row costs several
    dense multiply-adds; fused by ``torch.compile`` the gather wins from ``n_basis >= 4 (k + 1)``,
    eagerly (where the gathered rows are materialized) from ``n_basis >= 20 (k + 1)``: the
    crossovers measured on config e of ``benchmarks/speed.py``. ``compiled`` defaults to whether
    a ``torch.compile`` trace is running."""
    if compiled is None:
        compiled = torch.compiler.is_compiling()
    return "sparse" if n_basis >= (4 if compiled else 20) * (k + 1) else "dense"


def compile_options(in_dims: Sequence[int], device: torch.device) -> Dict[str, Any]:
    """Inductor options for a KAN with layer input sizes ``in_dims`` on ``device``.

    The fused basis loops vectorize over each layer's inputs. On CPU, when every layer has fewer
    than 8 inputs (pykan's ``[2, 5, 1]``) most vector lanes would idle behind masked loads, and
    scalar code is faster (1.5x on a training step of config b in ``benchmarks/speed.py``);
    otherwise inductor's defaults."""
    if torch.device(device).type == "cpu" and max(in_dims) < 8:
        return {"cpp.simdlen": 1}
    return {}


# ------------------------------------------------------------------ the fused product
def _features(
    plan: LocalBasis, x: torch.Tensor, base: Optional[BaseRow], deriv: int = 0, located: Optional[Located] = None
) -> torch.Tensor:
    """``(batch, (n_basis [+ 1]) * in_dim)``: the basis-major dense basis, with the base
    function (``deriv`` 0) or its derivative (``deriv`` 1) as one more row when ``base`` is
    given. ``located``: ``x``'s :meth:`LocalBasis.window`, when the caller already has it."""
    row = None if base is None else base[deriv](x)
    return plan.dense_t(x, deriv, row, located).reshape(x.shape[0], -1)


@torch._dynamo.assume_constant_result
def _threads() -> int:
    """torch's CPU thread count, a constant for a compiled graph (no graph break)."""
    return torch.get_num_threads()


@torch.library.custom_op("kanlab::add_rows", mutates_args=())
def add_rows(rows: torch.Tensor, values: torch.Tensor, n_rows: int) -> torch.Tensor:
    """``out[rows[r]] += values[r]`` into zeros ``(n_rows, values.shape[1])``: ``index_add``.

    A custom op so that ``torch.compile`` keeps ATen's kernel: inductor lowers ``index_add`` to
    atomic adds, which on a multi-threaded CPU made the compiled sparse training step 4x slower
    than on one thread (config d of ``benchmarks/speed.py``; on one thread, or on CUDA, the
    lowered kernel is the faster one and is used)."""
    return values.new_zeros(n_rows, values.shape[1]).index_add_(0, rows, values)


@add_rows.register_fake
def _(rows: torch.Tensor, values: torch.Tensor, n_rows: int) -> torch.Tensor:
    return values.new_empty(n_rows, values.shape[1])


def _add_rows_setup(ctx, inputs, output) -> None:  # type: ignore[no-untyped-def]
    ctx.save_for_backward(inputs[0])


def _add_rows_backward(ctx, grad: torch.Tensor):  # type: ignore[no-untyped-def]
    (rows,) = ctx.saved_tensors
    return None, grad[rows], None  # differentiable: second derivatives keep working


add_rows.register_autograd(_add_rows_backward, setup_context=_add_rows_setup)


def _table(w: torch.Tensor, in_dim: int, k: int) -> torch.Tensor:
    """``w (out, n_basis * in_dim)`` -> the padded table ``((n_basis + 2k) * in_dim, out)``."""
    return F.pad(w.reshape(w.shape[0], -1, in_dim), (0, 0, k, k)).reshape(w.shape[0], -1).T


def _table_rows(plan: LocalBasis, j: torch.Tensor) -> torch.Tensor:
    """Rows ``(batch, (k + 1) * in_dim)`` of :func:`_table` that input ``x`` touches."""
    in_dim = j.shape[1]
    rows = plan.padded_index(j) * in_dim + torch.arange(in_dim, device=j.device)
    return rows.reshape(j.shape[0], -1)


# Eager passes work on row chunks whose transient buffers stay under this many elements, so the
# peak memory of a step does not grow with the batch. On CPU the chunks are small enough to stay
# in cache (2 MiB of float32); on GPUs they only cap memory (launches are what costs there).
CHUNK_ELEMENTS = {"cpu": 1 << 19, "other": 1 << 26}


def _row_chunks(batch: int, per_row: int, device: torch.device) -> List[slice]:
    if torch.compiler.is_compiling():
        return [slice(0, batch)]
    budget = CHUNK_ELEMENTS["cpu" if device.type == "cpu" else "other"]
    rows = max(1, budget // max(per_row, 1))
    return [slice(s, min(s + rows, batch)) for s in range(0, batch, rows)]


def _per_row(plan: LocalBasis, mode: str, in_dim: int, out_dim: int) -> int:
    """Transient elements per batch row: padded basis and features, or gathered table rows."""
    if mode == "dense":
        return (2 * plan.n_basis + 2 * plan.k + 2) * in_dim
    return 2 * (plan.k + 1) * in_dim * out_dim


def _forward_rows(
    plan: LocalBasis, x: torch.Tensor, w: torch.Tensor, mode: str, base: Optional[BaseRow]
) -> torch.Tensor:
    if mode == "dense":
        return _features(plan, x, base) @ w.T
    j, f, inside = plan.window(x)
    vals = plan.local(j, f, inside).transpose(1, 2).reshape(x.shape[0], -1)
    return F.embedding_bag(_table_rows(plan, j), _table(w, x.shape[1], plan.k), per_sample_weights=vals, mode="sum")


def _backward_rows(
    plan: LocalBasis, x: torch.Tensor, w: torch.Tensor, gy: torch.Tensor, mode: str, base: Optional[BaseRow],
    need_x: bool, need_w: bool,
) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
    """``(grad_x (b, in), grad_w (out, rows * in))`` of one chunk of rows."""
    b, in_dim = x.shape
    k, nb, n_out = plan.k, plan.n_basis, gy.shape[1]
    gx = gw = None
    located = plan.window(x)
    if mode == "dense":
        if need_w:
            gw = gy.T @ _features(plan, x, base, located=located)
        if need_x:
            gx = ((gy @ w) * _features(plan, x, base, 1, located)).reshape(b, -1, in_dim).sum(1)
        return gx, gw
    j, f, inside = located
    rows = _table_rows(plan, j).reshape(-1)
    if need_w:
        vals = plan.local(j, f, inside).transpose(1, 2).reshape(b, -1, 1)
        contrib = (vals * gy[:, None, :]).reshape(-1, n_out)  # (b * (k+1) * in, out)
        n_rows = (nb + 2 * k) * in_dim
        if torch.compiler.is_compiling() and x.device.type == "cpu" and _threads() > 1:
            table = add_rows(rows, contrib, n_rows)  # keeps inductor's atomic adds out, see add_rows
        else:
            table = contrib.new_zeros(n_rows, n_out).index_add(0, rows, contrib)
        gw = table[k * in_dim : (k + nb) * in_dim].T
    if need_x:
        picked = F.embedding(rows, _table(w, in_dim, k)).reshape(b, -1, n_out)  # (b, (k+1) * in, out)
        g_local = (picked * gy[:, None, :]).sum(-1).reshape(b, k + 1, in_dim)
        gx = (g_local * plan.local(j, f, inside, 1).transpose(1, 2)).sum(1)
    return gx, gw


def _spline_forward(x: torch.Tensor, w: torch.Tensor, plan: LocalBasis, mode: str, base: Optional[BaseRow],
                    autocast_off: bool) -> torch.Tensor:
    """``features(x) @ w.T`` in row chunks (the forward of both autograd Functions below)."""
    with _autocast_off(x, autocast_off):
        chunks = _row_chunks(x.shape[0], _per_row(plan, mode, x.shape[1], w.shape[0]), x.device)
        if len(chunks) == 1:
            return _forward_rows(plan, x, w, mode, base)
        return torch.cat([_forward_rows(plan, x[c], w, mode, base) for c in chunks])


def _save(ctx: Any, x: torch.Tensor, w: torch.Tensor, plan: LocalBasis, mode: str, base: Optional[BaseRow],
          autocast_off: bool) -> None:
    ctx.plan, ctx.mode, ctx.base, ctx.autocast_off = plan, mode, base, autocast_off
    ctx.save_for_backward(x, w)


#: A dense eager product whose features have at most this many elements keeps them (and their
#: derivative, when ``x`` needs a gradient) from the forward for a first-order backward, instead
#: of recomputing the basis: on small networks the recomputation's ~40 small operations per layer
#: were a third of a loss-and-gradient evaluation ([2, 5, 1] on 1000 rows, issue 15); the memory
#: (at most 1 MiB in float32) does not matter there. Larger products keep only ``x`` and ``w``.
SAVE_FEATURES_ELEMENTS = 1 << 18


def _small_dense_forward(ctx: Any, x: torch.Tensor, w: torch.Tensor, plan: LocalBasis, mode: str,
                         base: Optional[BaseRow], autocast_off: bool) -> Optional[torch.Tensor]:
    """The forward of a small dense eager product with its features kept on ``ctx`` (see
    :data:`SAVE_FEATURES_ELEMENTS`); ``None`` where that does not apply."""
    if (mode != "dense" or torch.compiler.is_compiling() or x.dim() != 2
            or x.shape[0] * (plan.n_basis + 1) * x.shape[1] > SAVE_FEATURES_ELEMENTS):
        return None
    with _autocast_off(x, autocast_off):
        if ctx.needs_input_grad[0]:
            ctx.features = plan.dense_pair(x, base)
        else:
            ctx.features = (_input_features(plan, x, base), None)
        return ctx.features[0] @ w.T


def _input_features(plan: LocalBasis, x: torch.Tensor, base: Optional[BaseRow]) -> torch.Tensor:
    """:func:`_features` of an ``x`` that needs no gradient, kept on the plan for the next call
    on the same memory, unchanged (its version counter), and the same base: a full-batch fit
    evaluates its input layer on the same training inputs ~20 times per LBFGS step, and this
    skips the basis there (a third of a closure of ``[2, 5, 1]`` on 1000 rows, issue 15). The
    plan belongs to one grid, so a grid change drops it; one entry, at most
    :data:`SAVE_FEATURES_ELEMENTS` elements."""
    if x.is_inference():  # no version counter to tell an in-place change
        return _features(plan, x, base)
    # the same memory, layout and version: ``model(x)`` reshapes into a new view every call.
    # Holding the kept input keeps its storage alive, so no other storage can reuse the address.
    key = (x.data_ptr(), x.shape, x.stride(), x.dtype, x.device, x._version, base)
    kept = plan.kept_input
    if kept is not None and kept[1] == key:
        return kept[2]
    feats = _features(plan, x, base)
    plan.kept_input = (x, key, feats)
    return feats


def _spline_backward(ctx: Any, gy: torch.Tensor) -> tuple:
    """Gradients for ``x`` and ``w`` from the recomputed basis, in differentiable operations
    (from the forward's kept features when it kept them and no graph of the gradient is built)."""
    x, w = ctx.saved_tensors
    need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    kept = getattr(ctx, "features", None)
    if kept is not None and not torch.is_grad_enabled():  # create_graph=False: constants suffice
        feats, slope = kept
        with _autocast_off(x, ctx.autocast_off):
            gy = gy.to(x.dtype)
            gw = gy.T @ feats if need_w else None
            gx = ((gy @ w) * slope).reshape(x.shape[0], -1, x.shape[1]).sum(1) if need_x else None
        return gx, gw, None, None, None, None
    with _autocast_off(x, ctx.autocast_off):
        gy = gy.to(x.dtype)
        chunks = _row_chunks(x.shape[0], _per_row(ctx.plan, ctx.mode, x.shape[1], w.shape[0]), x.device)
        gxs, gw = [], None
        for c in chunks:
            gx_c, gw_c = _backward_rows(ctx.plan, x[c], w, gy[c], ctx.mode, ctx.base, need_x, need_w)
            gxs.append(gx_c)
            gw = gw_c if gw is None else gw + gw_c
    gx = (gxs[0] if len(gxs) == 1 else torch.cat(gxs)) if need_x else None
    return gx, gw, None, None, None, None


class _SplineLinear(torch.autograd.Function):
    """``y = features(x) @ w.T`` saving only ``x`` and ``w``; differentiable backward. The eager and
    compiled path: ``ctx`` in ``forward`` (the ``setup_context`` form binds its arguments with
    ``inspect`` on every call, ~80 us per layer on CPU, measured on ``[2, 5, 1]``)."""

    @staticmethod
    def forward(ctx, x, w, plan, mode, base, autocast_off):  # type: ignore[override]
        _save(ctx, x, w, plan, mode, base, autocast_off)
        small = _small_dense_forward(ctx, x, w, plan, mode, base, autocast_off)
        return small if small is not None else _spline_forward(x, w, plan, mode, base, autocast_off)

    backward = staticmethod(_spline_backward)


class _SplineLinearFunctorch(torch.autograd.Function):
    """The same product under ``torch.func`` transforms (``vmap``, ``jacrev``, ``jacfwd``,
    ``hessian``): functorch's form (``setup_context``, a generated vmap rule) and forward-mode AD
    (``jvp``, which ``torch.compile`` would refuse)."""

    generate_vmap_rule = True
    forward = staticmethod(_spline_forward)
    backward = staticmethod(_spline_backward)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:  # type: ignore[no-untyped-def, override]
        _save(ctx, *inputs)
        ctx.save_for_forward(inputs[0], inputs[1])

    @staticmethod
    def jvp(ctx, dx, dw, *_):  # type: ignore[no-untyped-def, override]
        """``features'(x) dx @ w.T + features(x) @ dw.T``, in differentiable operations."""
        x, w = ctx.saved_tensors
        out = None
        with _autocast_off(x, ctx.autocast_off):
            if dw is not None:
                out = _SplineLinearFunctorch.apply(x, dw, ctx.plan, ctx.mode, ctx.base, False)
            if dx is not None:
                b, in_dim = x.shape
                slope = _features(ctx.plan, x, ctx.base, 1).reshape(b, -1, in_dim)  # any mode
                term = (slope * dx.unsqueeze(1)).reshape(b, -1) @ w.T
                out = term if out is None else out + term
        return out


# device types torch.autocast knows (others, e.g. "meta", have no autocast state to query)
_AUTOCAST_DEVICES = ("cpu", "cuda", "xpu", "mps", "hpu", "xla")


def _autocast_off(x: torch.Tensor, off: bool) -> Any:
    """A context that disables autocast on ``x``'s device when ``off`` (the spline product runs
    in the parameters' precision under ``torch.autocast``, as ``custom_fwd(cast_inputs=...)``
    would do), else a no-op."""
    return torch.autocast(x.device.type, enabled=False) if off else contextlib.nullcontext()


def spline_linear(
    x: torch.Tensor, w: torch.Tensor, plan: LocalBasis, mode: str = "auto", base: Optional[BaseRow] = None
) -> torch.Tensor:
    """``y[b, o] = sum_{n, i} B_n(x[b, i]) w[o, n * in_dim + i]`` (+ ``b(x[b, i]) w[o,
    n_basis * in_dim + i]`` when ``base = (b, b')``, a base function and its derivative, is
    given: :data:`kanlab.bases.BASE_FUNCTIONS`' entries with derivatives; dense mode only).

    ``x``: ``(batch, in_dim)``; ``w``: ``(out, (n_basis [+ 1]) * in_dim)``, basis-major (row
    ``n`` of every input, then the next). Returns ``(batch, out)``. ``mode``: ``"dense"``,
    ``"sparse"`` or ``"auto"`` (:func:`choose_mode`). Saves only ``x`` and ``w`` for backward
    and recomputes the basis there; twice differentiable.
    """
    if mode == "auto":
        mode = choose_mode(plan.n_basis, plan.k)
    if mode not in ("dense", "sparse"):
        raise ValueError(f"mode must be 'auto', 'dense' or 'sparse', got {mode!r}")
    if base is not None and mode != "dense":
        raise ValueError(f"a base function can only be folded into the dense mode, got mode {mode!r}")
    rows = plan.n_basis + (base is not None)
    if x.ndim != 2 or w.ndim != 2 or w.shape[1] != rows * x.shape[1]:
        raise ValueError(f"expected x (batch, in) and w (out, {rows} * in), got {tuple(x.shape)} and {tuple(w.shape)}")
    if x.shape[0] == 0:  # an empty batch: an empty product, still connected to x and w
        return x.repeat(1, rows) @ w.T
    autocast = x.device.type in _AUTOCAST_DEVICES and torch.is_autocast_enabled(x.device.type)
    if autocast:  # B-spline pieces in bfloat16 would be off by ~1e-2: compute in w's precision
        dtype = torch.promote_types(x.dtype, w.dtype)
        x, w = x.to(dtype), w.to(dtype)
    functorch = not torch.compiler.is_compiling() and torch._C._are_functorch_transforms_active()
    fn = _SplineLinearFunctorch if functorch else _SplineLinear
    return fn.apply(x, w, plan, mode, base, autocast)
