"""Local B-spline evaluation: where each input lies among the knots and the ``k + 1`` basis
functions that do not vanish there, as a polynomial in its position inside the knot interval.

:class:`LocalBasis` is a *plan* built once per grid (from a layer's knots): for a uniform grid one
``(k + 1, k + 1)`` matrix of cardinal B-spline pieces; for an adapted grid a table of per-interval
polynomials ``(in_dim, n_intervals, k + 1, k + 1)``. On the knots' interval ``[t_j, t_{j+1})`` with
``f = (x - t_j) / (t_{j+1} - t_j)`` the non-zero basis values are ``B_{j-k+m}(x) = sum_d f^d C[j,
d, m]`` for ``m = 0..k``. Uniform grids need no search (the nearest knot ``round((x - t_0) / h)``
and one comparison), adapted ones a bucket table and at most two comparisons (:class:`_Buckets`;
``searchsorted`` for clustered knots, compiled code and GPUs). The fused products over these plans are
in :mod:`kanlab.kernels`; the reference path (:func:`kanlab.splines.bspline_basis`) is what all of
this is tested against.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Tuple

import torch

from . import native, splines

__all__ = ["LocalBasis", "Located", "BaseRow"]

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
      even where that division rounds across a knot); otherwise eagerly on CPU a bucket table
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
    # the compiled fit pass's first-layer local values of its last input, see kanlab.fused
    kept_native: Optional[tuple] = field(default=None, repr=False, compare=False)
    # native_tables' contiguous copies per dtype, and _row_loop's verdicts
    _tables: dict = field(default_factory=dict, repr=False, compare=False)
    _row_loops: dict = field(default_factory=dict, repr=False, compare=False)

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
        # measured on CPU only; on a GPU one searchsorted is fewer launches than the ~13 bucket operations
        self.buckets = None if self.uniform or self.knots.device.type != "cpu" else _Buckets.of(self.knots)

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
        :meth:`window` of ``x`` if already computed. Values and slopes of plain CPU inputs come
        from :mod:`kanlab.native`'s compiled loop where it is available."""
        k, nb = self.k, self.n_basis
        if deriv <= 1 and located is None and native.basis_applies(x):
            out = self._native(x, nb + (extra_row is not None), values=deriv == 0, slopes=deriv == 1)[:, 0]
            if extra_row is not None:
                out[:, nb] = extra_row
            return out
        j, f, inside = self.window(x) if located is None else located
        vals = self.local(j, f, inside, deriv)  # (b, in, k+1)
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

    def native_tables(self, dtype: torch.dtype) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The knots, inverse widths and pieces (per interval unless cardinal) as contiguous
        ``dtype`` tensors, as the compiled loops take them (:mod:`kanlab.native`); converted once
        per dtype (the plan belongs to one grid)."""
        tables = self._tables.get(dtype)
        if tables is None:
            pieces = self.pieces if self.cardinal else self.pieces_rows
            tables = tuple(t.detach().to(dtype).contiguous() for t in (self.knots, self.inv_width, pieces))
            if not torch.compiler.is_compiling():  # a traced graph converts them itself (no side effect)
                self._tables[dtype] = tables
        return tables  # type: ignore[return-value]

    def _row_loop(self, dtype: torch.dtype) -> int:
        """Whether the C loop can take its row-wise form on these knots (:func:`kanlab.native.rows_loop`),
        1 or 0, tested once per dtype; -1 (the loop tests it itself) inside a compiled graph, whose
        code must not bake in one grid's answer."""
        if torch.compiler.is_compiling():
            return -1
        verdict = self._row_loops.get(dtype)
        if verdict is None:
            verdict = self._row_loops[dtype] = int(native.rows_loop(self.native_tables(dtype)[0], not self.cardinal))
        return verdict

    def _native(self, x: torch.Tensor, rows: int, values: bool = True, slopes: bool = True) -> torch.Tensor:
        """:func:`kanlab.native.basis` on this plan's knots and pieces: ``(batch, planes, rows, in)``."""
        return native.basis(x, *self.native_tables(x.dtype), not self.cardinal, self.k, self.n_basis, rows,
                            values, slopes, self._row_loop(x.dtype))

    def dense_pair(self, x: torch.Tensor, base: Optional[BaseRow] = None,
                   located: Optional[Located] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """The basis-major features and their derivative in ``x``, each ``(batch, (n_basis [+
        1]) * in_dim)`` (the base function's value and slope as row ``n_basis`` when ``base`` is
        given): :func:`_features` of ``deriv`` 0 and 1 in one pass, sharing the interval lookup,
        the pieces and one scatter (about half the operations of two passes, which is what small
        layers pay for). Eager only: in-place writes into a fresh buffer."""
        k, nb = self.k, self.n_basis
        b, n_in = x.shape
        if located is None and native.applies(x):  # one compiled loop (kanlab.native)
            buf = self._native(x, nb + (base is not None))
            if base is not None:
                buf[:, 0, nb] = base[0](x)
                buf[:, 1, nb] = base[1](x)
            return buf[:, 0].reshape(b, -1), buf[:, 1].reshape(b, -1)
        j, f, inside = self.window(x) if located is None else located
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
        return ((x - origin) * scale).long().clamp(0, m - 1)  # out of place: vmap has no clamp_ rule

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
