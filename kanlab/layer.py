"""``KANLayer``: one layer of learnable edge functions, summed at the nodes.

Edge ``i -> j`` computes ``phi_ji(x_i) = scale_base[j, i] * b(x_i)
+ scale_spline[j, i] * sum_n coef[j, i, n] * B_n(x_i)`` and node ``j`` sums its edges, times the
edge mask. The hot path contracts the basis ``(batch, in, n_basis)`` with the coefficients in one
matrix product and never builds the ``(batch, out, in)`` edge tensor; :meth:`edge_activations`
builds it on demand (regularisation, plots, pruning).
"""
from __future__ import annotations

import math
import numbers
from typing import Callable, Optional, Sequence, Union

import torch
from torch import nn

from . import kernels, splines

BaseFun = Union[str, Callable[[torch.Tensor], torch.Tensor]]

_BASE_FUNS = {**kernels.BASE_FUNS, "zero": torch.zeros_like}


def resolve_base_fun(base_fun: BaseFun) -> Callable[[torch.Tensor], torch.Tensor]:
    """Map a base-function name ('silu', 'identity', 'zero') or callable to a callable."""
    if callable(base_fun):
        return base_fun
    if isinstance(base_fun, str) and base_fun in _BASE_FUNS:
        return _BASE_FUNS[base_fun]
    raise ValueError(f"base_fun must be one of {sorted(_BASE_FUNS)} or a callable, got {base_fun!r}")


class KANLayer(nn.Module):
    """A KAN layer with ``in_dim * out_dim`` B-spline edges.

    Args:
        in_dim, out_dim: number of input and output nodes.
        grid_size: number of grid intervals ``G`` (pykan: ``grid``).
        spline_order: B-spline order ``k`` (pykan: ``k``); ``n_basis = G + k``.
        grid_range: initial grid range ``(lo, hi)``.
        grid_eps: blend between a uniform (1) and a quantile (0) grid in grid updates.
        noise_scale: initial spline coefficients are uniform in ``±noise_scale / (2 G)``.
        scale_base_mu, scale_base_sigma: ``scale_base ~ (mu + sigma * U(-1, 1)) / sqrt(in_dim)``.
        scale_spline: initial ``scale_spline`` before the ``1 / sqrt(in_dim)`` factor.
        base_fun: residual function ``b``: 'silu', 'identity', 'zero' or a callable.
        sp_trainable, sb_trainable: whether ``scale_spline`` / ``scale_base`` are trained
            (``scale_base`` never is with ``base_fun='zero'``, where it is unused).
        generator: random generator for the initialisation (None: torch's global one).
        fast: use the fast path (:mod:`kanlab.kernels`: local basis, memory-lean fused product);
            ``False`` runs the plain reference path (autograd through the local de Boor basis).
        contraction: fast-path formulation, ``"auto"`` (by shape), ``"dense"`` or ``"sparse"``.

    State: parameters ``coef (out, in, n_basis)``, ``scale_base (out, in)``,
    ``scale_spline (out, in)``; buffers ``knots (in, G + 2k + 1)`` and ``mask (out, in)``.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        grid_size: int = 5,
        spline_order: int = 3,
        *,
        grid_range: Sequence[float] = (-1.0, 1.0),
        grid_eps: float = 0.02,
        noise_scale: float = 0.3,
        scale_base_mu: float = 0.0,
        scale_base_sigma: float = 1.0,
        scale_spline: float = 1.0,
        base_fun: BaseFun = "silu",
        sp_trainable: bool = True,
        sb_trainable: bool = True,
        generator: Optional[torch.Generator] = None,
        fast: bool = True,
        contraction: str = "auto",
        device: Optional[Union[str, torch.device]] = None,
        dtype: Optional[torch.dtype] = None,
    ) -> None:
        super().__init__()
        if contraction not in ("auto", "dense", "sparse"):
            raise ValueError(f"contraction must be 'auto', 'dense' or 'sparse', got {contraction!r}")
        self.fast, self.contraction = bool(fast), contraction
        _check_positive_int("in_dim", in_dim)
        _check_positive_int("out_dim", out_dim)
        _check_positive_int("grid_size (grid)", grid_size)
        _check_positive_int("spline_order (k)", spline_order)
        if len(grid_range) != 2 or not float(grid_range[0]) < float(grid_range[1]):
            raise ValueError(f"grid_range must be (lo, hi) with lo < hi, got {grid_range!r}")
        if not 0.0 <= grid_eps <= 1.0:
            raise ValueError(f"grid_eps must lie in [0, 1], got {grid_eps}")
        self.in_dim, self.out_dim = in_dim, out_dim
        self.grid_size, self.spline_order = grid_size, spline_order
        self.grid_eps = float(grid_eps)
        self.base_fun_name = base_fun if isinstance(base_fun, str) else "custom"
        self.base_fun = resolve_base_fun(base_fun)
        kw = {"device": device, "dtype": dtype or torch.get_default_dtype()}

        points = splines.uniform_grid_points(in_dim, grid_size, grid_range, **kw)
        self.register_buffer("knots", splines.extend_grid(points, spline_order))
        self.register_buffer("mask", torch.ones(out_dim, in_dim, **kw))

        def uniform(*shape: int) -> torch.Tensor:  # U(-1, 1), drawn on CPU so seeds match on any device
            return (torch.rand(*shape, generator=generator, dtype=torch.float64, device="cpu") * 2 - 1).to(**kw)

        n_basis = grid_size + spline_order
        self.coef = nn.Parameter(uniform(out_dim, in_dim, n_basis) * (noise_scale / (2 * grid_size)))
        inv_sqrt = 1.0 / math.sqrt(in_dim)
        self.scale_base = nn.Parameter(
            (scale_base_mu + scale_base_sigma * uniform(out_dim, in_dim)) * inv_sqrt,
            requires_grad=sb_trainable and self.base_fun_name != "zero",  # unused: DDP needs no grad
        )
        self.scale_spline = nn.Parameter(
            torch.full((out_dim, in_dim), scale_spline * inv_sqrt, **kw), requires_grad=sp_trainable
        )
        self._refresh_plan()

    # ------------------------------------------------------------------ inspection
    @property
    def n_basis(self) -> int:
        return self.grid_size + self.spline_order

    @property
    def grid(self) -> torch.Tensor:
        """Grid points inside the range, ``(in_dim, grid_size + 1)`` (the knots without extension)."""
        k = self.spline_order
        return self.knots[:, k : self.knots.shape[1] - k]

    def extra_repr(self) -> str:
        return (
            f"in_dim={self.in_dim}, out_dim={self.out_dim}, grid_size={self.grid_size}, "
            f"spline_order={self.spline_order}, base_fun={self.base_fun_name!r}"
        )

    # ------------------------------------------------------------------ forward
    def _refresh_plan(self) -> None:
        """Rebuild the fast path's :class:`~kanlab.kernels.LocalBasis` after the knots changed
        (grid updates, loading, device or dtype moves). Knots edited by hand need a call too."""
        meta = self.knots.device.type == "meta"  # no values to test for uniformity: adapted path
        self._plan = kernels.LocalBasis.from_knots(self.knots, self.spline_order, force_adapted=meta)
        self._plan_knots = self.knots.detach().clone()
        self._plan_key = (self.knots.data_ptr(), self.knots._version)

    def _check_plan(self) -> None:
        """Rebuild the plan if the knots were written in place with new values since it was built
        (DDP's buffer broadcast, ``knots.copy_(...)``): it must never describe old knots. A write of
        the same values (DDP broadcasts every forward) only costs one comparison."""
        key = (self.knots.data_ptr(), self.knots._version)
        if torch.compiler.is_compiling() or key == self._plan_key:
            return
        if torch.equal(self.knots, self._plan_knots):
            self._plan_key = key
        else:
            self._refresh_plan()

    def _apply(self, fn, *args, **kwargs):  # type: ignore[override]
        out = super()._apply(fn, *args, **kwargs)
        self._refresh_plan()
        return out

    def basis(self, x: torch.Tensor) -> torch.Tensor:
        """B-spline basis at ``x`` ``(batch, in_dim)`` -> ``(batch, in_dim, n_basis)``."""
        if self.fast:
            self._check_plan()
            return self._plan.dense(x)
        return splines.bspline_basis_local(x, self.knots, self.spline_order)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(*, in_dim) -> (*, out_dim)`` like ``nn.Linear`` (any leading dims, none included):
        node sums of the masked edge functions."""
        if x.ndim != 2:  # flatten the leading dims, run on (batch, in_dim), restore them
            return self.forward(x.reshape(-1, x.shape[-1])).reshape(*x.shape[:-1], self.out_dim)
        w_spline = self.coef * (self.scale_spline * self.mask).unsqueeze(-1)  # (out, in, n_basis)
        if not self.fast:
            y = self.basis(x).reshape(x.shape[0], -1) @ w_spline.reshape(self.out_dim, -1).T
        else:
            self._check_plan()
            mode = self.contraction
            if mode == "auto":
                mode = kernels.choose_mode(self.n_basis, self.spline_order)
            w = w_spline.transpose(1, 2)  # basis-major (out, n_basis, in), see kernels.spline_linear
            if mode == "dense" and self.base_fun_name in kernels.FOLDABLE_BASES:  # base as one more row
                w = torch.cat([w, (self.scale_base * self.mask).unsqueeze(1)], dim=1)
                return kernels.spline_linear(x, w.reshape(self.out_dim, -1), self._plan, mode, self.base_fun_name)
            y = kernels.spline_linear(x, w.reshape(self.out_dim, -1), self._plan, mode)
        if self.base_fun_name != "zero":
            y = y + self.base_fun(x) @ (self.scale_base * self.mask).T
        return y

    def spline_values(self, x: torch.Tensor) -> torch.Tensor:
        """Unscaled spline part of every edge, ``(batch, in_dim) -> (batch, out_dim, in_dim)``."""
        return torch.einsum("bjn,ojn->boj", self.basis(x), self.coef)

    def edge_activations(self, x: torch.Tensor) -> torch.Tensor:
        """Every edge's ``phi(x)`` including the mask: ``(batch, in_dim) -> (batch, out_dim, in_dim)``.

        ``edge_activations(x).sum(-1)`` equals ``forward(x)``.
        """
        phi = self.scale_spline * self.spline_values(x)
        if self.base_fun_name != "zero":
            phi = phi + self.scale_base * self.base_fun(x).unsqueeze(1)
        return phi * self.mask

    # ------------------------------------------------------------------ grids
    @torch.no_grad()
    def set_grid(self, grid_points: torch.Tensor, fit_x: torch.Tensor) -> None:
        """Move to new grid points ``(in_dim, G' + 1)`` keeping the spline on ``fit_x``.

        The coefficients are refitted by least squares on all the samples ``fit_x`` ``(n,
        in_dim)`` so that every edge's spline part agrees with the old one there
        (:func:`~kanlab.splines.refit_matrix`: float64 QR, the old spline's exact basis); ``G'``
        may differ from ``grid_size`` (grid extension).
        """
        new_knots = splines.extend_grid(grid_points.to(self.knots), self.spline_order)
        refit = splines.refit_matrix(fit_x, self.knots, new_knots, self.spline_order)  # (in, n_new, n_old)
        coef = torch.einsum("inm,oim->oin", refit, self.coef.to(refit.dtype)).to(self.coef.dtype)
        self.grid_size = grid_points.shape[1] - 1
        self.knots = new_knots
        self._refresh_plan()
        if coef.shape == self.coef.shape:  # in place: optimizers keep tracking the parameter
            self.coef.copy_(coef)
        else:
            self.coef = nn.Parameter(coef, requires_grad=self.coef.requires_grad)

    @torch.no_grad()
    def update_grid_from_samples(self, x: torch.Tensor, grid_size: Optional[int] = None) -> None:
        """Adapt the grid to the samples ``x`` ``(batch, in_dim)`` (pykan's ``grid_eps`` blend).

        With ``grid_size`` the grid also changes resolution. The function is kept on ``x`` (least
        squares on all its rows).
        """
        g = self.grid_size if grid_size is None else grid_size
        _check_positive_int("grid_size", g)
        self.set_grid(splines.grid_points_from_samples(x, g, self.grid_eps), x)

    @torch.no_grad()
    def refine(self, grid_size: int, x: Optional[torch.Tensor] = None) -> None:
        """Grid extension to ``grid_size`` intervals, keeping the function.

        The new grid points interpolate the current ones (an adapted grid keeps its density
        profile), so for ``grid_size`` a multiple of the current size the new knots contain the
        old ones and the refined spline equals the old one up to round-off on the grid range.
        Otherwise the coefficients are the least-squares fit on dense points spanning the grid
        range plus the samples ``x`` ``(n, in_dim)`` if given. If samples lie outside the grid
        range, the new grid is instead adapted to the samples and the range together (as
        :meth:`update_grid_from_samples`), so the function is kept where the data is.
        """
        _check_positive_int("grid_size", grid_size)
        lo, hi = self.grid[:, 0], self.grid[:, -1]
        n_fit = max(4 * (grid_size + self.spline_order), 64)
        fit_x = _interp_points(self.grid, n_fit - 1).T.contiguous()  # (n_fit, in)
        if x is not None:
            x = x.to(fit_x)
            fit_x = torch.cat([fit_x, x], dim=0)
            if bool(((x < lo) | (x > hi)).any()):
                self.set_grid(splines.grid_points_from_samples(fit_x, grid_size, self.grid_eps), fit_x)
                return
        self.set_grid(_interp_points(self.grid, grid_size), fit_x)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[override]
        """Adopt a checkpoint's grid resolution (a refined model's state loads into a fresh one)."""
        knots = state_dict.get(prefix + "knots")
        coef = state_dict.get(prefix + "coef")
        if knots is not None and coef is not None and knots.shape != self.knots.shape:
            k = self.spline_order
            if knots.ndim == 2 and knots.shape[0] == self.in_dim and coef.shape[-1] == knots.shape[1] - k - 1:
                self.grid_size = knots.shape[1] - 2 * k - 1
                self.knots = self.knots.new_empty(knots.shape)
                self.coef = nn.Parameter(self.coef.new_empty(coef.shape), requires_grad=self.coef.requires_grad)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._refresh_plan()


def _interp_points(points: torch.Tensor, n_intervals: int) -> torch.Tensor:
    """Piecewise-linear resampling of sorted points ``(in, m)`` to ``(in, n_intervals + 1)``."""
    m = points.shape[1]
    pos = torch.linspace(0, m - 1, n_intervals + 1, dtype=points.dtype, device=points.device)
    lo = pos.floor().long().clamp(max=m - 2)
    frac = pos - lo.to(points.dtype)
    return points[:, lo] * (1 - frac) + points[:, lo + 1] * frac


def _check_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
