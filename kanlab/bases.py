"""Base functions of a KAN layer: the residual function ``b(x)`` and the univariate basis ``B_n``.

Edge ``i -> j`` of a :class:`~kanlab.layer.KANLayer` computes
``scale_base[j, i] * b(x_i) + scale_spline[j, i] * sum_n coef[j, i, n] * B_n(x_i)``.

* :data:`BASE_FUNCTIONS` is the one registry of residual functions ``b`` (name -> value, first
  and second derivative); a custom callable is allowed too, without derivatives.
* :class:`Basis` is what a layer needs from its per-input basis ``B_n``: values and derivatives,
  the fast contraction with the coefficients, grid handling and the domain. A new basis family
  (Gaussian RBF, Chebyshev, Fourier) is one subclass of it; :class:`BSplineBasis` is the first.
  The other families and the registry by name (``KAN(basis=...)``, :func:`make_basis`) are in
  :mod:`kanlab.bases_family`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, Dict, List, MutableMapping, NamedTuple, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from . import edgewise, kernels, splines
from .localbasis import LocalBasis
from .validation import check_positive_int

__all__ = ["BaseFunction", "BASE_FUNCTIONS", "BaseFun", "resolve_base_fun", "LocalValues", "Basis", "BSplineBasis"]

Fn = Callable[[torch.Tensor], torch.Tensor]
BaseFun = Union[str, Fn]


# ------------------------------------------------------------------ residual base functions
@dataclass(frozen=True)
class BaseFunction:
    """A residual base function ``b`` with its derivatives, all elementwise (any shape).

    ``d1``/``d2`` are ``None`` for a custom callable: features that need them (the folded fast
    path, :func:`kanlab.pde.kan_laplacian`) then fall back or raise. ``zero``: ``b = 0``, so a
    layer skips the base term (and leaves ``scale_base`` untrained).
    """

    name: str
    fn: Fn
    d1: Optional[Fn] = None
    d2: Optional[Fn] = None
    zero: bool = False

    def derivatives(self, x: torch.Tensor, order: int) -> List[torch.Tensor]:
        """``[b(x), b'(x), b''(x)][: order + 1]``, each shaped like ``x``."""
        funs = [self.fn, self.d1, self.d2][: order + 1]
        if len(funs) <= order or any(f is None for f in funs):
            raise ValueError(f"base_fun {self.name!r} has no known derivatives up to order {order}; use one of "
                             f"{sorted(BASE_FUNCTIONS)} or autograd")
        return [f(x) for f in funs]  # type: ignore[misc]


def _silu_d1(x: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(x)
    return s * (1 + x * (1 - s))


def _silu_d2(x: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(x)
    return s * (1 - s) * (2 + x * (1 - 2 * s))


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


BASE_FUNCTIONS: Dict[str, BaseFunction] = {
    "silu": BaseFunction("silu", F.silu, _silu_d1, _silu_d2),
    "identity": BaseFunction("identity", _identity, torch.ones_like, torch.zeros_like),
    "zero": BaseFunction("zero", torch.zeros_like, torch.zeros_like, torch.zeros_like, zero=True),
}


def resolve_base_fun(base_fun: BaseFun) -> BaseFunction:
    """The registry entry for a name ('silu', 'identity', 'zero'), or a callable as ``'custom'``."""
    if isinstance(base_fun, str) and base_fun in BASE_FUNCTIONS:
        return BASE_FUNCTIONS[base_fun]
    if callable(base_fun):
        return BaseFunction("custom", base_fun)
    raise ValueError(f"base_fun must be one of {sorted(BASE_FUNCTIONS)} or a callable, got {base_fun!r}")


def dense_linear(features: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``y[b, o] = sum_{i, n} features[b, i, n] weight[o, i, n]`` as one matmul: ``features``
    ``(batch, in, n_basis)``, ``weight`` ``(out, in, n_basis)`` -> ``(batch, out)``."""
    return features.reshape(features.shape[0], -1) @ weight.reshape(weight.shape[0], -1).T


def add_base(y: torch.Tensor, x: torch.Tensor, base: Optional[BaseFunction],
             base_weight: Optional[torch.Tensor]) -> torch.Tensor:
    """``y`` ``(batch, out)`` plus ``sum_i b(x[b, i]) base_weight[o, i]``; ``y`` itself (no extra
    op on the hot path) without a base."""
    return y if base is None else y + base.fn(x) @ base_weight.T  # type: ignore[union-attr]


# ------------------------------------------------------------------ the basis interface
class LocalValues(NamedTuple):
    """The basis functions that can be non-zero at each input, with derivatives.

    ``values``: ``(order + 1, batch, in_dim, m)``, derivative ``r`` of function ``index[b, i, s]``
    at ``x[b, i]``; ``index``: ``(batch, in_dim, m)`` (long) in ``0 .. n_basis - 1``. Slots whose
    function does not exist have value 0 (and any valid index).
    """

    values: torch.Tensor
    index: torch.Tensor


class Basis(ABC):
    """One layer's univariate basis: ``n_basis`` functions ``B_n`` for each of ``in_dim`` inputs.

    A subclass implements :attr:`n_basis`, :attr:`grid_size`, :attr:`domain` and :meth:`evaluate`;
    if it has a grid (``has_grid``), also :attr:`grid`, :meth:`set_grid`, :meth:`adapt`, :meth:`refine`.
    The other methods have working defaults built on :meth:`evaluate` that a basis may speed up.

    Tensor state (B-splines: the knots) lives in ``self._state``, a mapping of name -> tensor.
    :meth:`attach` registers those tensors as buffers of the owning layer and from then on
    reads and writes the layer's buffers, so ``state_dict``, checkpoints and ``.to()`` carry
    them like any buffer; the layer calls :meth:`state_changed` after replacing them. A basis
    object belongs to one layer.
    """

    has_grid: bool = False

    def __init__(self, in_dim: int, **state: torch.Tensor) -> None:
        self.in_dim = in_dim
        self._state: MutableMapping[str, Optional[torch.Tensor]] = dict(state)
        self._attached = False

    # ---- size and state
    @property
    @abstractmethod
    def n_basis(self) -> int:
        """Functions per input: the last dimension of the layer's ``coef``."""

    @property
    @abstractmethod
    def grid_size(self) -> int:
        """The resolution that :meth:`refine` changes (B-splines: grid intervals ``G``)."""

    def attach(self, layer: nn.Module) -> None:
        """Register this basis's tensors as buffers of ``layer`` and keep using them from there."""
        if self._attached:
            raise ValueError(f"this {type(self).__name__} already belongs to a layer; build one per layer")
        self._attached = True
        for name, tensor in self._state.items():
            layer.register_buffer(name, tensor)
        self._state = layer._buffers  # nn.Module's own buffer dict: .to() and loading update it

    def state_changed(self) -> None:
        """Called after the tensors were replaced or rewritten (``.to()``, loading): rebuild
        anything derived from them. Default: nothing to rebuild."""

    def prepare_load(self, saved: Dict[str, torch.Tensor], n_basis: int) -> bool:
        """Before the layer loads a state whose buffers ``saved`` (by name) and coefficient count
        ``n_basis`` may have another resolution: resize this basis's tensors to the saved shapes
        (the values are copied in afterwards) and return whether they were resized."""
        return False

    # ---- evaluation
    @abstractmethod
    def evaluate(self, x: torch.Tensor, deriv: int = 0) -> torch.Tensor:
        """``deriv``-th derivative (0, 1 or 2) of every function: ``(batch, in_dim) -> (batch,
        in_dim, n_basis)``. Differentiable in ``x``."""

    def evaluate_reference(self, x: torch.Tensor) -> torch.Tensor:
        """An independent plain evaluation ``(batch, in_dim) -> (batch, in_dim, n_basis)`` for
        a layer's ``fast=False`` path; defaults to :meth:`evaluate`."""
        return self.evaluate(x)

    def local(self, x: torch.Tensor, order: int = 0) -> LocalValues:
        """Derivatives ``0 .. order`` of the functions that can be non-zero at ``x`` ``(batch,
        in_dim)`` (see :class:`LocalValues`). Default: all ``n_basis`` of them."""
        values = torch.stack([self.evaluate(x, r) for r in range(order + 1)])
        index = torch.arange(self.n_basis, device=x.device).expand(*x.shape, -1)
        return LocalValues(values, index)

    def linear(
        self, x: torch.Tensor, weight: torch.Tensor, base: Optional[BaseFunction] = None,
        base_weight: Optional[torch.Tensor] = None, mode: str = "auto",
    ) -> torch.Tensor:
        """The layer's hot path: ``y[b, o] = sum_{i, n} B_n(x[b, i]) weight[o, i, n]
        (+ sum_i base(x[b, i]) base_weight[o, i])``. ``x``: ``(batch, in_dim)``; ``weight``:
        ``(out, in_dim, n_basis)``; ``base_weight``: ``(out, in_dim)``. Returns ``(batch, out)``.
        ``mode``: a formulation hint (B-splines: ``"auto"``, ``"dense"``, ``"sparse"``).
        Must not build a ``(batch, out, in_dim)`` tensor."""
        return add_base(dense_linear(self.evaluate(x), weight), x, base, base_weight)

    def linear_scaled(
        self, x: torch.Tensor, weight: torch.Tensor, edge_scale: Optional[torch.Tensor],
        base: Optional[BaseFunction] = None, base_weight: Optional[torch.Tensor] = None, mode: str = "auto",
    ) -> torch.Tensor:
        """:meth:`linear` with ``weight * edge_scale[..., None]`` (``edge_scale`` ``(out, in_dim)``, or
        ``None``): a layer's edges. Bases whose product wants another weight layout build it in
        one pass from the factors."""
        weight = weight if edge_scale is None else weight * edge_scale.unsqueeze(-1)
        return self.linear(x, weight, base, base_weight, mode)

    def edges(
        self, x: torch.Tensor, weight: torch.Tensor, base: Optional[BaseFunction] = None,
        base_weight: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Every edge's value ``phi[b, o, i] = sum_n B_n(x[b, i]) weight[o, i, n] (+ base(x[b, i])
        base_weight[o, i])``, shapes as in :meth:`linear`; returns ``(batch, out, in_dim)``, whose
        sum over the last dimension is :meth:`linear`. What the sparsity regulariser, plots and
        pruning read."""
        phi = torch.einsum("bin,oin->boi", self.evaluate(x), weight)
        return phi if base is None else phi + base_weight * base.fn(x).unsqueeze(1)  # type: ignore[operator]

    # ---- domain and grid
    @property
    @abstractmethod
    def domain(self) -> torch.Tensor:
        """``(in_dim, 2)``: the interval per input the basis represents functions on (plots,
        symbolic fitting, the default refit points)."""

    @property
    def grid(self) -> torch.Tensor:
        """Grid points ``(in_dim, grid_size + 1)`` of a basis with a grid."""
        raise NotImplementedError(f"{type(self).__name__} has no grid")

    def set_grid(self, grid_points: torch.Tensor, fit_x: torch.Tensor) -> torch.Tensor:
        """Move to ``grid_points`` ``(in_dim, G' + 1)``. Returns the refit matrix ``P`` ``(in_dim,
        n_new, n_old)``: ``coef_new[o, i] = P[i] @ coef_old[o, i]`` keeps every function on the
        samples ``fit_x`` ``(n, in_dim)`` (least squares)."""
        raise NotImplementedError(f"{type(self).__name__} has no grid")

    def adapt(self, x: torch.Tensor, grid_size: Optional[int] = None, grid_eps: float = 0.02) -> torch.Tensor:
        """Adapt the grid (of ``grid_size`` intervals, default the current) to the samples ``x``
        ``(n, in_dim)``; ``grid_eps`` blends uniform (1) and quantile (0) placement. Returns the
        refit matrix (see :meth:`set_grid`) that keeps the functions on ``x``."""
        raise NotImplementedError(f"{type(self).__name__} has no grid")

    def refine(self, grid_size: int, x: Optional[torch.Tensor] = None, grid_eps: float = 0.02) -> torch.Tensor:
        """Change the resolution to ``grid_size`` keeping the functions on the domain (and on the
        samples ``x`` ``(n, in_dim)`` if given). Returns the refit matrix (see :meth:`set_grid`)."""
        raise NotImplementedError(f"{type(self).__name__} has no grid")


# ------------------------------------------------------------------ B-splines
class BSplineBasis(Basis):
    """B-splines of order ``k`` on a knot grid per input: ``n_basis = G + k``.

    State: ``knots`` ``(in_dim, G + 2k + 1)``, the ``G + 1`` grid points extended by ``k`` knots
    on each side (a buffer of the owning layer). Evaluation goes through a
    :class:`~kanlab.localbasis.LocalBasis` plan, rebuilt whenever the knots change: grid updates,
    loading, ``.to()``, and knots written in place with new values (DDP's buffer broadcast,
    ``knots.copy_``), detected on the next use. :meth:`evaluate_reference` is the plain de Boor
    basis (:func:`~kanlab.splines.bspline_basis_local`).
    """

    has_grid = True

    def __init__(
        self, in_dim: int, grid_size: int = 5, spline_order: int = 3, grid_range: Sequence[float] = (-1.0, 1.0),
        *, device: Optional[Union[str, torch.device]] = None, dtype: Optional[torch.dtype] = None,
    ) -> None:
        check_positive_int("grid_size (grid)", grid_size)
        check_positive_int("spline_order (k)", spline_order)
        if len(grid_range) != 2 or not float(grid_range[0]) < float(grid_range[1]):
            raise ValueError(f"grid_range must be (lo, hi) with lo < hi, got {grid_range!r}")
        points = splines.uniform_grid_points(in_dim, grid_size, grid_range, device=device,
                                             dtype=dtype or torch.get_default_dtype())
        super().__init__(in_dim, knots=splines.extend_grid(points, spline_order))
        self.spline_order = spline_order
        self.state_changed()

    @property
    def knots(self) -> torch.Tensor:
        """``(in_dim, G + 2k + 1)``."""
        return self._state["knots"]  # type: ignore[return-value]

    @property
    def n_basis(self) -> int:
        return self.knots.shape[1] - self.spline_order - 1

    @property
    def grid_size(self) -> int:
        return self.knots.shape[1] - 2 * self.spline_order - 1

    @property
    def grid(self) -> torch.Tensor:
        """Grid points ``(in_dim, G + 1)``: the knots without the extension."""
        k = self.spline_order
        return self.knots[:, k : self.knots.shape[1] - k]

    @property
    def domain(self) -> torch.Tensor:
        """The grid range ``(in_dim, 2)``, where the basis is a partition of unity."""
        grid = self.grid
        return torch.stack([grid[:, 0], grid[:, -1]], dim=1)

    # ---- the plan
    def state_changed(self) -> None:
        """Rebuild the :class:`~kanlab.localbasis.LocalBasis` plan for the current knots."""
        knots = self.knots
        meta = knots.device.type == "meta"  # no values to test for uniformity: adapted path
        self._plan = LocalBasis.from_knots(knots, self.spline_order, force_adapted=meta)
        self._plan_knots = knots.detach().clone()
        self._plan_key = (knots.data_ptr(), knots._version)

    @property
    def plan(self) -> LocalBasis:
        """The plan of the current knots. Knots written in place with new values since it was
        built make it rebuild; a write of the same values (DDP broadcasts every forward) costs one
        comparison. Not checked inside a ``torch.compile`` trace."""
        knots = self.knots
        key = (knots.data_ptr(), knots._version)
        if torch.compiler.is_compiling() or key == self._plan_key:
            return self._plan
        if torch.equal(knots, self._plan_knots):
            self._plan_key = key
        else:
            self.state_changed()
        return self._plan

    def prepare_load(self, saved: Dict[str, torch.Tensor], n_basis: int) -> bool:
        """Adopt a saved state's grid size (a refined layer's state loads into a fresh one)."""
        knots, k = saved.get("knots"), self.spline_order
        if knots is None or knots.shape == self.knots.shape:
            return False
        if knots.ndim != 2 or knots.shape[0] != self.in_dim or n_basis != knots.shape[1] - k - 1:
            return False  # let load_state_dict report the mismatch
        self._state["knots"] = self.knots.new_empty(knots.shape)
        return True

    # ---- evaluation
    def evaluate(self, x: torch.Tensor, deriv: int = 0) -> torch.Tensor:
        return self.plan.dense(x, deriv)

    def evaluate_reference(self, x: torch.Tensor) -> torch.Tensor:
        return splines.bspline_basis_local(x, self.knots, self.spline_order)

    def local(self, x: torch.Tensor, order: int = 0) -> LocalValues:
        """The ``k + 1`` functions ``B_{j-k} .. B_j`` of each input's knot interval ``j``."""
        plan, k = self.plan, self.spline_order
        j, f, inside = plan.window(x)
        index = j.unsqueeze(-1) + torch.arange(-k, 1, device=x.device)  # (batch, in, k + 1)
        exists = (index >= 0) & (index < self.n_basis)
        values = torch.stack([plan.local(j, f, inside, r) for r in range(order + 1)]) * exists
        return LocalValues(values, index.clamp(0, self.n_basis - 1))

    def linear(
        self, x: torch.Tensor, weight: torch.Tensor, base: Optional[BaseFunction] = None,
        base_weight: Optional[torch.Tensor] = None, mode: str = "auto",
    ) -> torch.Tensor:
        """:func:`kanlab.kernels.spline_linear` (saves only ``x`` and the weights; ``mode``:
        ``"auto"`` picks by grid size, see :func:`~kanlab.kernels.choose_mode`). In the dense
        mode a base function with a known derivative joins the product as one more basis row."""
        return self.linear_scaled(x, weight, None, base, base_weight, mode)

    def linear_scaled(
        self, x: torch.Tensor, weight: torch.Tensor, edge_scale: Optional[torch.Tensor],
        base: Optional[BaseFunction] = None, base_weight: Optional[torch.Tensor] = None, mode: str = "auto",
    ) -> torch.Tensor:
        """:meth:`linear` of ``weight * edge_scale[..., None]``, the basis-major weight built in one pass
        (:func:`kanlab.kernels.basis_major_weight`)."""
        plan, out_dim = self.plan, weight.shape[0]
        if mode == "auto":
            mode = kernels.choose_mode(self.n_basis, self.spline_order)
        if mode == "dense" and base is not None and base.d1 is not None:
            w = kernels.basis_major_weight(weight, edge_scale, base_weight)
            return kernels.spline_linear(x, w.reshape(out_dim, -1), plan, mode, (base.fn, base.d1))
        w = kernels.basis_major_weight(weight, edge_scale).reshape(out_dim, -1)
        return add_base(kernels.spline_linear(x, w, plan, mode), x, base, base_weight)

    def edges(
        self, x: torch.Tensor, weight: torch.Tensor, base: Optional[BaseFunction] = None,
        base_weight: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Small layers: :func:`kanlab.edgewise.edge_values` (features kept from the forward,
        an input layer's reused across a fit's evaluations); larger ones the default einsum."""
        plan, folded = self.plan, base is None or base.d1 is not None
        if folded and edgewise.fits_edge_values(plan, x, self.n_basis + (base is not None)):
            w = weight.transpose(1, 2)  # (out, n_basis, in)
            if base is None:
                return edgewise.edge_values(x, w, plan)
            w = torch.cat([w, base_weight.unsqueeze(1)], dim=1)  # type: ignore[union-attr]
            return edgewise.edge_values(x, w, plan, (base.fn, base.d1))  # type: ignore[arg-type]
        return super().edges(x, weight, base, base_weight)

    # ---- grid changes
    def set_grid(self, grid_points: torch.Tensor, fit_x: torch.Tensor) -> torch.Tensor:
        """New knots from ``grid_points`` ``(in_dim, G' + 1)``; the refit is
        :func:`~kanlab.splines.refit_matrix` on ``fit_x`` (float64 QR, the old exact basis)."""
        new_knots = splines.extend_grid(grid_points.to(self.knots), self.spline_order)
        refit = splines.refit_matrix(fit_x, self.knots, new_knots, self.spline_order)
        self._state["knots"] = new_knots
        self.state_changed()
        return refit

    def adapt(self, x: torch.Tensor, grid_size: Optional[int] = None, grid_eps: float = 0.02) -> torch.Tensor:
        """Grid points from the samples (pykan's blend, :func:`~kanlab.splines.grid_points_from_samples`)."""
        g = self.grid_size if grid_size is None else grid_size
        check_positive_int("grid_size", g)
        return self.set_grid(splines.grid_points_from_samples(x, g, grid_eps), x)

    def refine(self, grid_size: int, x: Optional[torch.Tensor] = None, grid_eps: float = 0.02) -> torch.Tensor:
        """The new grid points interpolate the current ones (an adapted grid keeps its density
        profile), so for ``grid_size`` a multiple of the current size the new knots contain the
        old ones and the function is kept exactly on the grid range. The refit is least squares
        on dense points of the grid range plus ``x``. If ``x`` leaves the grid range, the grid is
        instead adapted to the samples and the range together (as :meth:`adapt`)."""
        check_positive_int("grid_size", grid_size)
        grid = self.grid
        n_fit = max(4 * (grid_size + self.spline_order), 64)
        fit_x = splines.resample_grid_points(grid, n_fit - 1).T.contiguous()  # (n_fit, in)
        if x is not None:
            x = x.to(fit_x)
            fit_x = torch.cat([fit_x, x], dim=0)
            if bool(((x < grid[:, 0]) | (x > grid[:, -1])).any()):
                return self.set_grid(splines.grid_points_from_samples(fit_x, grid_size, grid_eps), fit_x)
        return self.set_grid(splines.resample_grid_points(grid, grid_size), fit_x)
