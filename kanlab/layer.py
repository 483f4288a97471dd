"""``KANLayer``: one layer of learnable edge functions, summed at the nodes.

Edge ``i -> j`` computes ``phi_ji(x_i) = scale_base[j, i] * b(x_i)
+ scale_spline[j, i] * sum_n coef[j, i, n] * B_n(x_i)`` and node ``j`` sums its edges, times the
edge mask. ``b`` comes from :data:`kanlab.bases.BASE_FUNCTIONS` (or is a callable) and ``B_n``
from the layer's :class:`~kanlab.bases.Basis` (B-splines unless another basis is given); the
layer talks to both only through their interfaces. The hot path contracts the basis with the
coefficients without building the ``(batch, out, in)`` edge tensor; :meth:`edge_activations`
builds it on demand (regularisation, plots, pruning).
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import nn

from .bases import BaseFun, BaseFunction, Basis, BSplineBasis, add_base, dense_linear, resolve_base_fun
from .validation import check_positive_int

__all__ = ["KANLayer", "BaseFun"]


class BasisOwner(nn.Module):
    """What every module with KAN edges over a :class:`~kanlab.bases.Basis` (``self.edge_basis``,
    attached to it) and a ``coef`` parameter holding ``n_basis`` along dimension ``_BASIS_DIM``
    shares: the basis's sizes, rebuilding the basis's derived state after ``.to()``, and loading
    a state saved at another resolution (a refined layer's state into a fresh one)."""

    _BASIS_DIM = -1
    edge_basis: Basis
    coef: nn.Parameter

    @property
    def n_basis(self) -> int:
        return self.edge_basis.n_basis

    @property
    def grid_size(self) -> int:
        """The basis's resolution (B-splines: grid intervals ``G``)."""
        return self.edge_basis.grid_size

    @property
    def spline_order(self) -> int:
        """B-spline order ``k``; 0 for a basis without one."""
        return getattr(self.edge_basis, "spline_order", 0)

    def _apply(self, fn, *args, **kwargs):  # type: ignore[override]
        out = super()._apply(fn, *args, **kwargs)
        self.edge_basis.state_changed()  # device or dtype moved: rebuild what derives from the buffers
        return out

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[override]
        """Adopt a saved state's grid resolution (a refined module's state loads into a fresh one)."""
        coef = state_dict.get(prefix + "coef")
        saved = {name: state_dict[prefix + name] for name in self._buffers if prefix + name in state_dict}
        if (coef is not None and coef.ndim == self.coef.ndim
                and self.edge_basis.prepare_load(saved, coef.shape[self._BASIS_DIM])):
            self.coef = nn.Parameter(self.coef.new_empty(coef.shape), requires_grad=self.coef.requires_grad)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self.edge_basis.state_changed()


class KANLayer(BasisOwner):
    """A KAN layer with ``in_dim * out_dim`` edges.

    Args:
        in_dim, out_dim: number of input and output nodes.
        grid_size: number of grid intervals ``G`` (pykan: ``grid``).
        spline_order: B-spline order ``k`` (pykan: ``k``); ``n_basis = G + k``.
        grid_range: initial grid range ``(lo, hi)``.
        grid_eps: blend between a uniform (1) and a quantile (0) grid in grid updates.
        noise_scale: initial coefficients are uniform in ``±noise_scale / (2 G)``.
        scale_base_mu, scale_base_sigma: ``scale_base ~ (mu + sigma * U(-1, 1)) / sqrt(in_dim)``
            (pykan's formula and defaults, mu 0, sigma 1: random signs, Kaiming-uniform-like).
            ``fit`` may replace a narrow layer's signs on a new model (:mod:`kanlab.starts`).
        scale_spline: initial ``scale_spline`` before the ``1 / sqrt(in_dim)`` factor.
        base_fun: residual function ``b``: 'silu', 'identity', 'zero' or a callable.
        sp_trainable, sb_trainable: whether ``scale_spline`` / ``scale_base`` are trained
            (``scale_base`` never is with ``base_fun='zero'``, where it is unused).
        generator: random generator for the initialisation (None: torch's global one).
        fast: use the basis's fast path (B-splines: :mod:`kanlab.kernels`, local basis and a
            memory-lean fused product); ``False`` runs its plain reference evaluation.
        contraction: fast-path formulation, ``"auto"`` (by shape), ``"dense"`` or ``"sparse"``.
        basis: a :class:`~kanlab.bases.Basis` for ``in_dim`` inputs to use instead of the
            B-splines built from ``grid_size``, ``spline_order`` and ``grid_range``.

    State: parameters ``coef (out, in, n_basis)``, ``scale_base (out, in)``,
    ``scale_spline (out, in)``; buffers: the basis's (B-splines: ``knots (in, G + 2k + 1)``)
    and ``mask (out, in)``.
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
        scale_base_mu: Optional[float] = 0.0,
        scale_base_sigma: Optional[float] = 1.0,
        scale_spline: float = 1.0,
        base_fun: BaseFun = "silu",
        sp_trainable: bool = True,
        sb_trainable: bool = True,
        generator: Optional[torch.Generator] = None,
        fast: bool = True,
        contraction: str = "auto",
        basis: Optional[Basis] = None,
        device: Optional[Union[str, torch.device]] = None,
        dtype: Optional[torch.dtype] = None,
    ) -> None:
        super().__init__()
        if contraction not in ("auto", "dense", "sparse"):
            raise ValueError(f"contraction must be 'auto', 'dense' or 'sparse', got {contraction!r}")
        self.fast, self.contraction = bool(fast), contraction
        check_positive_int("in_dim", in_dim)
        check_positive_int("out_dim", out_dim)
        kw = {"device": device, "dtype": dtype or torch.get_default_dtype()}
        if basis is None:
            basis = BSplineBasis(in_dim, grid_size, spline_order, grid_range, **kw)
        elif basis.in_dim != in_dim:
            raise ValueError(f"basis has in_dim={basis.in_dim}, the layer in_dim={in_dim}")
        if not 0.0 <= grid_eps <= 1.0:
            raise ValueError(f"grid_eps must lie in [0, 1], got {grid_eps}")
        self.in_dim, self.out_dim = in_dim, out_dim
        self.grid_eps = float(grid_eps)
        self._base = resolve_base_fun(base_fun)
        self.base_fun_name, self.base_fun = self._base.name, self._base.fn

        self.edge_basis = basis
        basis.attach(self)  # its tensors become this layer's buffers (B-splines: knots)
        self.register_buffer("mask", torch.ones(out_dim, in_dim, **kw))

        def uniform(*shape: int) -> torch.Tensor:  # U(-1, 1), drawn on CPU so seeds match on any device
            return (torch.rand(*shape, generator=generator, dtype=torch.float64, device="cpu") * 2 - 1).to(**kw)

        self.coef = nn.Parameter(uniform(out_dim, in_dim, self.n_basis) * (noise_scale / (2 * self.grid_size)))
        inv_sqrt = 1.0 / math.sqrt(in_dim)
        # None (checkpoint configs of an earlier kanlab): pykan's default
        scale_base_mu = 0.0 if scale_base_mu is None else float(scale_base_mu)
        scale_base_sigma = 1.0 if scale_base_sigma is None else float(scale_base_sigma)
        self.scale_base = nn.Parameter(
            (scale_base_mu + scale_base_sigma * uniform(out_dim, in_dim)) * inv_sqrt,
            requires_grad=sb_trainable and not self._base.zero,  # unused: DDP needs no grad
        )
        self.scale_spline = nn.Parameter(
            torch.full((out_dim, in_dim), scale_spline * inv_sqrt, **kw), requires_grad=sp_trainable
        )

    # ------------------------------------------------------------------ inspection
    @property
    def grid(self) -> torch.Tensor:
        """Grid points inside the range, ``(in_dim, grid_size + 1)`` (the knots without extension)."""
        return self.edge_basis.grid

    @property
    def domain(self) -> torch.Tensor:
        """``(in_dim, 2)``: each input's range the basis represents (B-splines: the grid range)."""
        return self.edge_basis.domain

    def extra_repr(self) -> str:
        return (
            f"in_dim={self.in_dim}, out_dim={self.out_dim}, grid_size={self.grid_size}, "
            f"spline_order={self.spline_order}, base_fun={self.base_fun_name!r}"
        )

    # ------------------------------------------------------------------ forward
    def basis(self, x: torch.Tensor) -> torch.Tensor:
        """Basis values at ``x`` ``(batch, in_dim)`` -> ``(batch, in_dim, n_basis)``."""
        return self.edge_basis.evaluate(x) if self.fast else self.edge_basis.evaluate_reference(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(*, in_dim) -> (*, out_dim)`` like ``nn.Linear`` (any leading dims, none included):
        node sums of the masked edge functions."""
        if x.ndim != 2:  # flatten the leading dims, run on (batch, in_dim), restore them
            return self.forward(x.reshape(-1, x.shape[-1])).reshape(*x.shape[:-1], self.out_dim)
        if self.fast:
            return self.edge_basis.linear_scaled(x, *self._edge_factors(), mode=self.contraction)
        w_spline, base, w_base = self._edge_weights()
        return add_base(dense_linear(self.edge_basis.evaluate_reference(x), w_spline), x, base, w_base)

    def _edge_factors(self) -> Tuple[torch.Tensor, torch.Tensor, Optional[BaseFunction], Optional[torch.Tensor]]:
        """The masked factors of every edge: ``coef`` ``(out, in, n_basis)`` and its scale ``(out,
        in)``, the base function (``None`` when it is zero) and its weights ``(out, in)``."""
        base = None if self._base.zero else self._base
        return self.coef, self.scale_spline * self.mask, base, None if base is None else self.scale_base * self.mask

    def _edge_weights(self) -> Tuple[torch.Tensor, Optional[BaseFunction], Optional[torch.Tensor]]:
        """The masked weights of every edge: spline ``(out, in, n_basis)``, the base function
        (``None`` when it is zero) and its weights ``(out, in)``."""
        coef, scale, base, w_base = self._edge_factors()
        return coef * scale.unsqueeze(-1), base, w_base

    def spline_values(self, x: torch.Tensor) -> torch.Tensor:
        """Unscaled spline part of every edge, ``(batch, in_dim) -> (batch, out_dim, in_dim)``."""
        return torch.einsum("bjn,ojn->boj", self.basis(x), self.coef)

    def edge_activations(self, x: torch.Tensor) -> torch.Tensor:
        """Every edge's ``phi(x)`` including the mask: ``(batch, in_dim) -> (batch, out_dim, in_dim)``.

        ``edge_activations(x).sum(-1)`` equals ``forward(x)``.
        """
        if self.fast:
            return self.edge_basis.edges(x, *self._edge_weights())
        phi = self.scale_spline * self.spline_values(x)
        if not self._base.zero:
            phi = phi + self.scale_base * self.base_fun(x).unsqueeze(1)
        return phi * self.mask

    # ------------------------------------------------------------------ derivatives (forward mode)
    @property
    def has_derivatives(self) -> bool:
        """Whether :meth:`forward_derivatives` works: the base function's derivatives are known
        (a :data:`~kanlab.bases.BASE_FUNCTIONS` name, not a custom callable)."""
        return self._base.d2 is not None

    def local_derivatives(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """What :meth:`forward_derivatives` needs at ``x`` ``(batch, in_dim)``, depending only on
        ``x`` and the basis's state (a caller evaluating fixed points may keep it): the value,
        first and second derivative of the ``m`` basis functions that can be non-zero per input
        and of the base function (last) ``(3, m + 1, in_dim, batch)``, and the functions' indices
        ``(m, in_dim, batch)``. Batch last: the reductions then run over leading dimensions,
        which is what vectorizes."""
        values, index = self.edge_basis.local(x, order=2)  # (3, batch, in, m), (batch, in, m)
        base = torch.stack(self._base.derivatives(x, 2)).unsqueeze(-1)  # (3, batch, in, 1)
        return torch.cat([values, base], dim=-1).permute(0, 3, 2, 1).contiguous(), index.permute(2, 1, 0).contiguous()

    def forward_derivatives(
        self, x: torch.Tensor, dx: torch.Tensor, d2x: Optional[torch.Tensor] = None,
        local: Optional[Tuple[torch.Tensor, torch.Tensor]] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The output and its first and second derivatives along ``n_dir`` directions (forward
        mode, no nested autograd; e.g. the directions are the network inputs for a Laplacian).

        ``x``: ``(batch, in_dim)``; ``dx``: ``(n_dir, batch, in_dim)``, ``dx_a = dx/dt_a``;
        ``d2x``: ``(n_dir, batch, in_dim)``, ``d^2 x/dt_a^2`` (``None``: 0, as for the network's
        inputs); ``local``: :meth:`local_derivatives` of ``x`` if the caller kept it. Returns
        ``y`` ``(batch, out_dim)`` (as :meth:`forward`), ``dy`` and ``d2y`` ``(n_dir, batch,
        out_dim)``: ``dy_a = sum_i phi_i'(x_i) dx_ai`` and ``d2y_a = sum_i phi_i''(x_i) dx_ai^2 +
        phi_i'(x_i) d2x_ai``. Uses only the ``m`` functions per input that can be non-zero
        (B-splines: ``k + 1``), so the cost does not grow with the grid; differentiable in the
        parameters and in ``dx``, ``d2x`` (ordinary backward). Raises ``ValueError`` unless
        :attr:`has_derivatives`.
        """
        values, index = self.local_derivatives(x) if local is None else local
        m = index.shape[0]
        w = self.coef * (self.scale_spline * self.mask).unsqueeze(-1)  # (out, in, n_basis)
        w_loc = w[:, torch.arange(self.in_dim, device=x.device)[:, None], index]  # (out, m, in, batch)
        phi = values[:, None, m] * (self.scale_base * self.mask)[:, :, None]  # phi^(r)_oi(x_i): (3, out, in, batch)
        for s in range(m):
            phi = phi + values[:, None, s] * w_loc[:, s]
        dz = dx.transpose(1, 2).unsqueeze(1)  # (n_dir, 1, in, batch)
        dy = (phi[1] * dz).sum(2)  # (n_dir, out, batch)
        d2y = phi[2] * (dz * dz)
        if d2x is not None:
            d2y = d2y + phi[1] * d2x.transpose(1, 2).unsqueeze(1)
        return phi[0].sum(1).T, dy.transpose(1, 2), d2y.sum(2).transpose(1, 2)

    # ------------------------------------------------------------------ grids
    def _refit(self, refit: torch.Tensor) -> None:
        """``coef[o, i] <- refit[i] @ coef[o, i]`` for a refit matrix ``(in, n_new, n_old)`` from
        the basis; in place when the shape is unchanged (optimizers keep tracking the parameter)."""
        coef = torch.einsum("inm,oim->oin", refit, self.coef.to(refit.dtype)).to(self.coef.dtype)
        if coef.shape == self.coef.shape:
            self.coef.copy_(coef)
        else:
            self.coef = nn.Parameter(coef.contiguous(), requires_grad=self.coef.requires_grad)

    @torch.no_grad()
    def set_grid(self, grid_points: torch.Tensor, fit_x: torch.Tensor) -> None:
        """Move to new grid points ``(in_dim, G' + 1)`` keeping the spline on ``fit_x``.

        The coefficients are refitted by least squares on all the samples ``fit_x`` ``(n,
        in_dim)`` so that every edge's spline part agrees with the old one there
        (:func:`~kanlab.splines.refit_matrix`: float64 QR, the old spline's exact basis); ``G'``
        may differ from ``grid_size`` (grid extension).
        """
        self._refit(self.edge_basis.set_grid(grid_points, fit_x))

    @torch.no_grad()
    def update_grid_from_samples(self, x: torch.Tensor, grid_size: Optional[int] = None) -> None:
        """Adapt the grid to the samples ``x`` ``(batch, in_dim)`` (pykan's ``grid_eps`` blend).

        With ``grid_size`` the grid also changes resolution. The function is kept on ``x`` (least
        squares on all its rows).
        """
        self._refit(self.edge_basis.adapt(x, grid_size, self.grid_eps))

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
        self._refit(self.edge_basis.refine(grid_size, x, self.grid_eps))
