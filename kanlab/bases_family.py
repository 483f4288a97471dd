"""The basis families a KAN layer can use, behind :class:`kanlab.bases.Basis`, and their registry.

======================  =====================================================================  =========  ==========
name                    functions per input (``x' `` = the input mapped from the domain)     n_basis    grid
======================  =====================================================================  =========  ==========
``"bspline"``           B-splines of order ``k`` on ``G`` grid intervals (:class:`BSplineBasis`) ``G + k``   yes
``"rbf"``               Gaussians ``exp(-((x - g_n) / h_n)^2)`` centred on the grid points        ``G + 1``   yes
``"chebyshev"``         ``T_0(t) .. T_d(t)``, ``t = tanh((x - c) / r)``                          ``d + 1``   no
``"legendre"``          ``P_0(t) .. P_d(t)``, ``t = tanh((x - c) / r)``                          ``d + 1``   no
``"fourier"``           ``1, cos(x'), sin(x'), .., cos(d x'), sin(d x')``, ``x' = pi/2 (x - c)/r``  ``2d + 1``  no
======================  =====================================================================  =========  ==========

``c`` and ``r`` are the centre and half-width of ``grid_range``; ``d`` is ``grid_size`` (the degree
for the global bases, which have no grid: :meth:`refine` raises the degree and pads the
coefficients with zeros, so the function is kept exactly). The RBF widths ``h_n`` are the local
grid spacing (the spacing itself on a uniform grid, FastKAN's choice). Every family gives values
and first and second derivatives in ``x`` (:meth:`~kanlab.bases.Basis.evaluate`), and its fast
contraction (:func:`features_linear`) saves only ``x`` and the weights for backward.

:func:`make_basis` builds one by name; :data:`BASIS_NAMES` lists the names; :func:`basis_size`
gives ``n_basis`` from the constructor arguments (checkpoint checks).
"""
from __future__ import annotations

import math
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import torch

from . import splines
from .bases import BaseFunction, Basis, BSplineBasis, add_base, dense_linear
from .validation import check_positive_int

__all__ = ["BASIS_NAMES", "make_basis", "basis_size", "check_basis_name", "features_linear", "GlobalBasis",
           "ChebyshevBasis", "LegendreBasis", "FourierBasis", "RBFBasis"]

Device = Optional[Union[str, torch.device]]

#: The basis names :func:`make_basis` (and ``KAN(basis=...)``) accept.
BASIS_NAMES: Tuple[str, ...] = ("bspline", "rbf", "chebyshev", "legendre", "fourier")


def check_basis_name(name: object, allow_auto: bool = False) -> str:
    """``name`` if it is a known basis name (or ``"auto"`` when allowed), else ``ValueError``
    listing the valid ones."""
    valid = list(BASIS_NAMES) + (["auto"] if allow_auto else [])
    if not isinstance(name, str) or name not in valid:
        raise ValueError(f"basis must be one of {valid}, got {name!r}")
    return name


def basis_size(name: str, grid_size: int, spline_order: int = 3) -> int:
    """``n_basis`` of basis ``name`` built with ``grid_size`` (and ``spline_order`` for B-splines)."""
    check_basis_name(name)
    return {"bspline": grid_size + spline_order, "rbf": grid_size + 1, "fourier": 2 * grid_size + 1}.get(
        name, grid_size + 1)


def make_basis(name: str, in_dim: int, grid_size: int = 5, spline_order: int = 3,
               grid_range: Sequence[float] = (-1.0, 1.0), *, device: Device = None,
               dtype: Optional[torch.dtype] = None) -> Basis:
    """A new basis ``name`` (one of :data:`BASIS_NAMES`) for ``in_dim`` inputs.

    ``grid_size``: grid intervals (``"bspline"``, ``"rbf"``) or the degree (``"chebyshev"``,
    ``"legendre"``, ``"fourier"``); ``spline_order``: the B-spline order (ignored by the others);
    ``grid_range``: the initial grid, or the domain the global bases map onto their interval.
    """
    check_basis_name(name)
    kw = {"device": device, "dtype": dtype}
    if name == "bspline":
        return BSplineBasis(in_dim, grid_size, spline_order, grid_range, **kw)
    cls: Dict[str, type] = {"rbf": RBFBasis, "chebyshev": ChebyshevBasis, "legendre": LegendreBasis,
                            "fourier": FourierBasis}
    return cls[name](in_dim, grid_size, grid_range, **kw)


# ------------------------------------------------------------------ shared helpers
def _check_range(grid_range: Sequence[float]) -> Tuple[float, float]:
    if isinstance(grid_range, (str, bytes)) or len(grid_range) != 2 \
            or not float(grid_range[0]) < float(grid_range[1]):
        raise ValueError(f"grid_range must be (lo, hi) with lo < hi, got {grid_range!r}")
    return float(grid_range[0]), float(grid_range[1])


def _dense_points(domain: torch.Tensor, n: int) -> torch.Tensor:
    """``n`` evenly spaced points across each input's ``domain`` ``(in, 2)`` -> ``(n, in)``."""
    frac = torch.linspace(0, 1, n, dtype=domain.dtype, device=domain.device)
    return (domain[:, :1] + (domain[:, 1:] - domain[:, :1]) * frac).T.contiguous()


_CHUNK_ROWS = 8192


def lstsq_refit(x: torch.Tensor, new: Callable[[torch.Tensor], torch.Tensor],
                old: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """The refit matrix ``P`` ``(in, n_new, n_old)`` with ``coef_new[o, i] = P[i] @ coef_old[o,
    i]`` the least-squares fit, on all rows of ``x`` ``(n, in)``, of every function of the old
    basis by the new one. ``new``/``old`` evaluate a basis: ``(rows, in) -> (rows, in, n)``.

    In float64 (float32 on MPS): a QR of ``[B_new | B_old]`` over row chunks, then the truncated
    pseudo-inverse of ``B_new``'s triangular factor (relative cutoff 1e-10; 1e-5 in float32), so
    functions the samples cannot tell apart get the minimum-norm share instead of blowing up, and
    an old space inside the new one is reproduced to round-off."""
    dt = splines.solve_dtype(x.device)
    x = x.detach().to(dt)
    r: Optional[torch.Tensor] = None
    n_new = 0
    for start in range(0, x.shape[0], _CHUNK_ROWS):
        rows = x[start:start + _CHUNK_ROWS]
        b_new = new(rows)
        n_new = b_new.shape[-1]
        block = torch.cat([b_new, old(rows)], dim=-1).transpose(0, 1)  # (in, rows, n_new + n_old)
        r = torch.linalg.qr(block if r is None else torch.cat([r, block], dim=1), mode="r").R
    if r is None:
        raise ValueError("no samples to refit the coefficients on")
    n_all = r.shape[-1]
    if r.shape[1] < n_all:
        r = torch.cat([r, r.new_zeros(r.shape[0], n_all - r.shape[1], n_all)], dim=1)
    rcond = 1e-10 if dt == torch.float64 else 1e-5
    u, sv, vh = torch.linalg.svd(r[:, :n_new, :n_new])
    inv = torch.where(sv > rcond * sv[:, :1], 1.0 / sv.clamp(min=torch.finfo(sv.dtype).tiny), 0.0)
    return vh.mT @ (inv.unsqueeze(-1) * (u.mT @ r[:, :n_new, n_new:]))


# ------------------------------------------------------------------ the fast contraction
class _RecomputeLinear(torch.autograd.Function):
    """``y = features(x) @ w.T`` saving only ``x`` and ``w``: the backward recomputes the
    features and their derivative from ``x`` with differentiable ops, so double backward (PINN
    losses through ``torch.autograd.grad(create_graph=True)``) works too."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, basis: Basis) -> torch.Tensor:  # type: ignore[override]
        ctx.basis = basis
        ctx.save_for_backward(x, weight)
        return dense_linear(basis.evaluate(x), weight)

    @staticmethod
    def backward(ctx, grad_y: torch.Tensor):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        basis: Basis = ctx.basis
        grad_x = grad_w = None
        if ctx.needs_input_grad[1]:
            feats = basis.evaluate(x)  # (batch, in, n)
            grad_w = (grad_y.T @ feats.reshape(x.shape[0], -1)).reshape(weight.shape)
        if ctx.needs_input_grad[0]:
            g = (grad_y @ weight.reshape(weight.shape[0], -1)).reshape(x.shape[0], x.shape[1], -1)
            grad_x = (g * basis.evaluate(x, 1)).sum(-1)
        return grad_x, grad_w, None


#: Feature tensors ``(batch, in, n_basis)`` up to this many elements keep plain autograd (which
#: saves them and the evaluation's intermediates: faster); larger ones are recomputed in backward.
#: Measured on CPU, one thread: recomputing is 1.3-2.5x slower per forward + backward (Chebyshev and
#: RBF, 1.8e4 to 2.4e6 elements) and keeps 20-30x less for backward (0.6 against 12-18 MiB at
#: 2048 x 64 x 9).
RECOMPUTE_ELEMENTS = 1 << 22


def features_linear(basis: Basis, x: torch.Tensor, weight: torch.Tensor, base: Optional[BaseFunction] = None,
                    base_weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``sum_{i, n} B_n(x[b, i]) weight[o, i, n] (+ base)``: ``x`` ``(batch, in)``, ``weight`` ``(out,
    in, n_basis)`` -> ``(batch, out)``. Above :data:`RECOMPUTE_ELEMENTS` features only ``x`` and
    ``weight`` are kept for backward (the ``(batch, in, n_basis)`` features are recomputed there);
    plain autograd below it, and where a ``torch.func`` transform or ``torch.compile`` is active."""
    if (x.shape[0] * x.shape[1] * weight.shape[-1] <= RECOMPUTE_ELEMENTS or torch.compiler.is_compiling()
            or torch._C._functorch.is_functorch_wrapped_tensor(x)):
        y = dense_linear(basis.evaluate(x), weight)
    else:
        y = _RecomputeLinear.apply(x, weight, basis)
    return add_base(y, x, base, base_weight)


# ------------------------------------------------------------------ global bases (no grid)
class GlobalBasis(Basis):
    """A basis without a grid: ``n_basis`` functions of the whole (mapped) input range, fixed
    by a degree ``grid_size``. State: the buffer ``basis_domain`` ``(in_dim, 2)`` (the range
    the input map is built from; a per-input buffer so pruning slices it like knots).

    :meth:`refine` changes the degree: raising it pads the coefficients with zeros (the family
    is nested, so the function is kept exactly); lowering it is a least-squares fit on dense
    points of the domain plus the samples. Grid updates (:meth:`set_grid`, :meth:`adapt`) raise
    ``ValueError``: there is no grid to move."""

    has_grid = False
    family = "global"

    def __init__(self, in_dim: int, degree: int = 5, grid_range: Sequence[float] = (-1.0, 1.0), *,
                 device: Device = None, dtype: Optional[torch.dtype] = None) -> None:
        check_positive_int("in_dim", in_dim)
        check_positive_int("grid_size (the degree)", degree)
        lo, hi = _check_range(grid_range)
        domain = torch.tensor([[lo, hi]], dtype=dtype or torch.get_default_dtype(), device=device)
        super().__init__(in_dim, basis_domain=domain.expand(in_dim, 2).contiguous())
        self.degree = int(degree)

    # ---- size
    @staticmethod
    def size_of(degree: int) -> int:
        """``n_basis`` for a degree."""
        return degree + 1

    def degree_of(self, n_basis: int) -> Optional[int]:
        """The degree with ``n_basis`` functions (``None`` if there is none)."""
        return n_basis - 1 if n_basis >= 2 else None

    @property
    def n_basis(self) -> int:
        return self.size_of(self.degree)

    @property
    def grid_size(self) -> int:
        """The degree ``d``."""
        return self.degree

    @property
    def domain(self) -> torch.Tensor:
        return self._state["basis_domain"]  # type: ignore[return-value]

    def _centre_scale(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(c, r)`` per input, ``(in,)`` each, in ``x``'s dtype."""
        d = self.domain.to(x.dtype)
        return (d[:, 0] + d[:, 1]) / 2, (d[:, 1] - d[:, 0]) / 2

    def prepare_load(self, saved: Dict[str, torch.Tensor], n_basis: int) -> bool:
        """Adopt the degree of a saved state's coefficients (a refined layer loads into a fresh one)."""
        degree = self.degree_of(n_basis)
        if degree is None or degree < 1 or degree == self.degree:
            return False
        self.degree = degree
        return True

    # ---- evaluation
    def linear(self, x: torch.Tensor, weight: torch.Tensor, base: Optional[BaseFunction] = None,
               base_weight: Optional[torch.Tensor] = None, mode: str = "auto") -> torch.Tensor:
        """:func:`features_linear` (``mode`` is the B-splines' hint and has no effect here)."""
        return features_linear(self, x, weight, base, base_weight)

    # ---- degree changes
    def refine(self, grid_size: int, x: Optional[torch.Tensor] = None, grid_eps: float = 0.02) -> torch.Tensor:
        """Change the degree to ``grid_size``. Raising it embeds the old coefficients (zeros for the
        new functions: the same function everywhere); lowering it fits the old functions by least
        squares on 256 points spanning the domain plus ``x`` ``(n, in_dim)``. ``grid_eps`` is unused."""
        check_positive_int("grid_size (the degree)", grid_size)
        old_n, old_eval = self.n_basis, self._evaluator(self.degree)
        if grid_size >= self.degree:
            refit = torch.eye(self.size_of(grid_size), old_n, dtype=self.domain.dtype, device=self.domain.device)
            self.degree = int(grid_size)
            return refit.expand(self.in_dim, -1, -1).contiguous()
        fit_x = _dense_points(self.domain, 256)
        if x is not None:
            fit_x = torch.cat([fit_x, x.to(fit_x)], dim=0)
        self.degree = int(grid_size)
        return lstsq_refit(fit_x, self._evaluator(self.degree), old_eval).to(self.domain.dtype)

    def _evaluator(self, degree: int) -> Callable[[torch.Tensor], torch.Tensor]:
        """``x -> values`` of this family at ``degree`` (for refits), in ``x``'s dtype."""
        def run(x: torch.Tensor) -> torch.Tensor:
            saved, self.degree = self.degree, degree
            try:
                return self.evaluate(x)
            finally:
                self.degree = saved
        return run

    def _no_grid(self) -> ValueError:
        name = type(self).__name__
        return ValueError(f"the {self.family} basis ({name}) has no grid to update: its functions span the whole "
                          f"input range at degree {self.degree}. Raise the degree with model.refine(new_degree) "
                          f"instead, or use basis='bspline' or 'rbf' for grid updates")

    def set_grid(self, grid_points: torch.Tensor, fit_x: torch.Tensor) -> torch.Tensor:
        raise self._no_grid()

    def adapt(self, x: torch.Tensor, grid_size: Optional[int] = None, grid_eps: float = 0.02) -> torch.Tensor:
        raise self._no_grid()

    @property
    def grid(self) -> torch.Tensor:
        raise self._no_grid()


class _PolynomialBasis(GlobalBasis):
    """Orthogonal polynomials ``p_0 .. p_d`` of ``t = tanh((x - c) / r)`` (``c``, ``r``: centre
    and half-width of the domain), from the three-term recurrence ``p_{n+1} = alpha_n t p_n -
    gamma_n p_{n-1}``, ``p_0 = 1``, ``p_1 = t``; derivatives in ``x`` by the chain rule with
    ``t' = (1 - t^2) / r``, ``t'' = -2 t (1 - t^2) / r^2``."""

    def _alpha_gamma(self, n: int) -> Tuple[float, float]:
        raise NotImplementedError

    def angle(self, x: torch.Tensor) -> torch.Tensor:
        """``theta = arccos(tanh(u))``, ``u = (x - c) / r``, ``(batch, in)``, as ``2 arctan(exp(-u))``
        (``pi`` minus that of ``-u`` for ``u < 0``): smooth, with finite gradients everywhere (no
        ``arccos`` singularity where ``tanh`` rounds to 1)."""
        c, r = self._centre_scale(x)
        u = (x - c) / r
        a = 2 * torch.atan(torch.exp(-u.abs()))
        return torch.where(u >= 0, a, math.pi - a)

    def evaluate(self, x: torch.Tensor, deriv: int = 0) -> torch.Tensor:
        """``(batch, in) -> (batch, in, d + 1)``: derivative ``deriv`` (0, 1, 2) in ``x``."""
        if deriv not in (0, 1, 2):
            raise ValueError(f"deriv must be 0, 1 or 2, got {deriv!r}")
        c, r = self._centre_scale(x)
        t = torch.tanh((x - c) / r)
        one, zero = torch.ones_like(t), torch.zeros_like(t)
        p, dp, d2p = [one, t], [zero, one], [zero, zero]  # p_n(t) and its t-derivatives
        for n in range(1, self.degree):
            a, g = self._alpha_gamma(n)
            p.append(a * t * p[n] - g * p[n - 1])
            if deriv >= 1:
                dp.append(a * (p[n] + t * dp[n]) - g * dp[n - 1])
            if deriv == 2:
                d2p.append(a * (2 * dp[n] + t * d2p[n]) - g * d2p[n - 1])
        if deriv == 0:
            return torch.stack(p[: self.degree + 1], dim=-1)
        dt = (1 - t * t) / r
        if deriv == 1:
            return torch.stack(dp[: self.degree + 1], dim=-1) * dt.unsqueeze(-1)
        d2t = -2 * t * dt / r
        return (torch.stack(d2p[: self.degree + 1], dim=-1) * (dt * dt).unsqueeze(-1)
                + torch.stack(dp[: self.degree + 1], dim=-1) * d2t.unsqueeze(-1))


class ChebyshevBasis(_PolynomialBasis):
    """Chebyshev polynomials of the first kind ``T_0(t) .. T_d(t)`` of ``t = tanh((x - c) / r)``
    (ChebyKAN's squashing; ``tanh(x)`` on the default domain [-1, 1]): ``T_{n+1} = 2 t T_n -
    T_{n-1}``. ``n_basis = d + 1``. :meth:`evaluate_reference`: ``cos(n arccos t)``."""

    family = "chebyshev"

    def _alpha_gamma(self, n: int) -> Tuple[float, float]:
        return 2.0, 1.0

    def evaluate_reference(self, x: torch.Tensor) -> torch.Tensor:
        """``T_n(cos theta) = cos(n theta)`` with ``theta = arccos(t)`` (:meth:`angle`)."""
        n = torch.arange(self.degree + 1, dtype=x.dtype, device=x.device)
        return torch.cos(self.angle(x).unsqueeze(-1) * n)


class LegendreBasis(_PolynomialBasis):
    """Legendre polynomials ``P_0(t) .. P_d(t)`` of ``t = tanh((x - c) / r)``: ``(n + 1) P_{n+1} =
    (2n + 1) t P_n - n P_{n-1}``. ``n_basis = d + 1``. :meth:`evaluate_reference`: the cosine
    series of ``P_n(cos theta)``."""

    family = "legendre"

    def _alpha_gamma(self, n: int) -> Tuple[float, float]:
        return (2 * n + 1) / (n + 1), n / (n + 1)

    def evaluate_reference(self, x: torch.Tensor) -> torch.Tensor:
        """The cosine series ``P_n(cos theta) = sum_k g_k g_{n-k} cos((n - 2k) theta)``, ``g_k =
        C(2k, k) / 4^k`` (all terms positive: no cancellation), ``theta = arccos(t)`` (:meth:`angle`)."""
        theta = self.angle(x).unsqueeze(-1)
        g = [math.comb(2 * k, k) / 4 ** k for k in range(self.degree + 1)]
        cols = []
        for n in range(self.degree + 1):
            m = torch.tensor([n - 2 * k for k in range(n + 1)], dtype=x.dtype, device=x.device)
            w = torch.tensor([g[k] * g[n - k] for k in range(n + 1)], dtype=x.dtype, device=x.device)
            cols.append((torch.cos(theta * m) * w).sum(-1))
        return torch.stack(cols, dim=-1)


class FourierBasis(GlobalBasis):
    """A Fourier series of degree ``d``: ``1, cos(x'), sin(x'), cos(2x'), sin(2x'), .., cos(d x'),
    sin(d x')`` (interleaved), ``x' = (pi / 2) (x - c) / r``: the domain is half a period, so a
    function that differs at the two ends needs no jump. ``n_basis = 2d + 1``.
    :meth:`evaluate_reference`: real and imaginary parts of ``exp(i k x')``."""

    family = "fourier"

    @staticmethod
    def size_of(degree: int) -> int:
        return 2 * degree + 1

    def degree_of(self, n_basis: int) -> Optional[int]:
        return (n_basis - 1) // 2 if n_basis >= 3 and n_basis % 2 == 1 else None

    def _phase(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(x', dx'/dx)``: ``(batch, in)`` and ``(in,)``."""
        c, r = self._centre_scale(x)
        s = (math.pi / 2) / r
        return (x - c) * s, s

    def evaluate(self, x: torch.Tensor, deriv: int = 0) -> torch.Tensor:
        """``(batch, in) -> (batch, in, 2d + 1)``: derivative ``deriv`` (0, 1, 2) in ``x``."""
        if deriv not in (0, 1, 2):
            raise ValueError(f"deriv must be 0, 1 or 2, got {deriv!r}")
        phase, s = self._phase(x)
        k = torch.arange(1, self.degree + 1, dtype=x.dtype, device=x.device)
        kx = phase.unsqueeze(-1) * k  # (batch, in, d)
        cos, sin = torch.cos(kx), torch.sin(kx)
        if deriv == 0:
            first, pair = torch.ones_like(phase).unsqueeze(-1), (cos, sin)
        elif deriv == 1:
            ks = k * s.unsqueeze(-1)  # (in, d)
            first, pair = torch.zeros_like(phase).unsqueeze(-1), (-ks * sin, ks * cos)
        else:
            ks2 = (k * s.unsqueeze(-1)) ** 2
            first, pair = torch.zeros_like(phase).unsqueeze(-1), (-ks2 * cos, -ks2 * sin)
        return torch.cat([first, torch.stack(pair, dim=-1).flatten(-2)], dim=-1)

    def evaluate_reference(self, x: torch.Tensor) -> torch.Tensor:
        phase, _ = self._phase(x)
        k = torch.arange(1, self.degree + 1, dtype=x.dtype, device=x.device)
        z = torch.exp(1j * (phase.unsqueeze(-1) * k))
        return torch.cat([torch.ones_like(phase).unsqueeze(-1), torch.stack([z.real, z.imag], -1).flatten(-2)], -1)


# ------------------------------------------------------------------ Gaussian RBFs on a grid
class RBFBasis(Basis):
    """Gaussian radial functions on a grid (FastKAN): ``B_n(x) = exp(-((x - g_n) / h_n)^2)`` for
    the ``G + 1`` grid points ``g_0 < .. < g_G`` of each input, with width ``h_n`` the local
    spacing ``(g_{n+1} - g_{n-1}) / 2`` (one-sided at the ends; the spacing itself on a uniform
    grid). ``n_basis = G + 1``.

    State: the buffer ``rbf_grid`` ``(in_dim, G + 1)``. Grid changes (:meth:`set_grid`,
    :meth:`adapt`, :meth:`refine`) return least-squares refit matrices (on the samples, and for
    :meth:`refine` also dense points of the grid range); Gaussians of two grids span different
    spaces, so a refine keeps the function up to the fit's residual, not exactly."""

    has_grid = True
    family = "rbf"

    def __init__(self, in_dim: int, grid_size: int = 5, grid_range: Sequence[float] = (-1.0, 1.0), *,
                 device: Device = None, dtype: Optional[torch.dtype] = None) -> None:
        check_positive_int("in_dim", in_dim)
        check_positive_int("grid_size (grid)", grid_size)
        points = splines.uniform_grid_points(in_dim, grid_size, _check_range(grid_range), device=device,
                                             dtype=dtype or torch.get_default_dtype())
        super().__init__(in_dim, rbf_grid=points)

    @property
    def grid(self) -> torch.Tensor:
        """The centres ``(in_dim, G + 1)``."""
        return self._state["rbf_grid"]  # type: ignore[return-value]

    @property
    def n_basis(self) -> int:
        return self.grid.shape[1]

    @property
    def grid_size(self) -> int:
        return self.grid.shape[1] - 1

    @property
    def domain(self) -> torch.Tensor:
        g = self.grid
        return torch.stack([g[:, 0], g[:, -1]], dim=1)

    @staticmethod
    def widths(grid: torch.Tensor) -> torch.Tensor:
        """``h_n`` ``(in, G + 1)`` of grid points ``(in, G + 1)``: half the distance between the
        neighbours (the one neighbour's distance at the ends)."""
        d = grid[:, 1:] - grid[:, :-1]
        return torch.cat([d[:, :1], (d[:, 1:] + d[:, :-1]) / 2, d[:, -1:]], dim=1)

    def prepare_load(self, saved: Dict[str, torch.Tensor], n_basis: int) -> bool:
        """Adopt a saved state's grid size (a refined layer's state loads into a fresh one)."""
        grid = saved.get("rbf_grid")
        if grid is None or grid.shape == self.grid.shape:
            return False
        if grid.ndim != 2 or grid.shape[0] != self.in_dim or grid.shape[1] != n_basis or n_basis < 2:
            return False  # let load_state_dict report the mismatch
        self._state["rbf_grid"] = self.grid.new_empty(grid.shape)
        return True

    @staticmethod
    def _values(x: torch.Tensor, grid: torch.Tensor, deriv: int = 0) -> torch.Tensor:
        g = grid.to(x.dtype)
        h = RBFBasis.widths(g)
        u = (x.unsqueeze(-1) - g) / h  # (batch, in, G + 1)
        phi = torch.exp(-u * u)
        if deriv == 0:
            return phi
        if deriv == 1:
            return -2 * u / h * phi
        if deriv == 2:
            return (4 * u * u - 2) / (h * h) * phi
        raise ValueError(f"deriv must be 0, 1 or 2, got {deriv!r}")

    def evaluate(self, x: torch.Tensor, deriv: int = 0) -> torch.Tensor:
        """``(batch, in) -> (batch, in, G + 1)``: derivative ``deriv`` (0, 1, 2) in ``x``."""
        return self._values(x, self.grid, deriv)

    def evaluate_reference(self, x: torch.Tensor) -> torch.Tensor:
        g = self.grid.to(x.dtype)
        h = self.widths(g)
        return torch.exp(-(((x.unsqueeze(-1) - g) ** 2) / (h ** 2)))

    def linear(self, x: torch.Tensor, weight: torch.Tensor, base: Optional[BaseFunction] = None,
               base_weight: Optional[torch.Tensor] = None, mode: str = "auto") -> torch.Tensor:
        """:func:`features_linear` (``mode`` is the B-splines' hint and has no effect here)."""
        return features_linear(self, x, weight, base, base_weight)

    # ---- grid changes
    def set_grid(self, grid_points: torch.Tensor, fit_x: torch.Tensor) -> torch.Tensor:
        """Move the centres to ``grid_points`` ``(in_dim, G' + 1)``; the refit is least squares on
        all rows of ``fit_x`` (:func:`lstsq_refit`)."""
        new = grid_points.to(self.grid)
        if new.ndim != 2 or new.shape[0] != self.in_dim or new.shape[1] < 2:
            raise ValueError(f"grid_points must be ({self.in_dim}, G + 1) with G >= 1, got {tuple(new.shape)}")
        old = self.grid.clone()
        refit = lstsq_refit(fit_x, lambda r: self._values(r, new.to(r.dtype)),
                            lambda r: self._values(r, old.to(r.dtype)))
        self._state["rbf_grid"] = new.contiguous()
        return refit.to(old.dtype)

    def adapt(self, x: torch.Tensor, grid_size: Optional[int] = None, grid_eps: float = 0.02) -> torch.Tensor:
        """Centres from the samples (pykan's blend, :func:`~kanlab.splines.grid_points_from_samples`)."""
        g = self.grid_size if grid_size is None else grid_size
        check_positive_int("grid_size", g)
        return self.set_grid(splines.grid_points_from_samples(x, g, grid_eps), x)

    def refine(self, grid_size: int, x: Optional[torch.Tensor] = None, grid_eps: float = 0.02) -> torch.Tensor:
        """New centres interpolating the current ones (an adapted grid keeps its density
        profile); the refit is least squares on dense points of the grid range plus ``x``. If
        ``x`` leaves the grid range, the grid is adapted to the samples and the range together."""
        check_positive_int("grid_size", grid_size)
        grid = self.grid
        fit_x = splines.resample_grid_points(grid, max(8 * (grid_size + 1), 128) - 1).T.contiguous()
        if x is not None:
            x = x.to(fit_x)
            fit_x = torch.cat([fit_x, x], dim=0)
            if bool(((x < grid[:, :1].T) | (x > grid[:, -1:].T)).any()):
                return self.set_grid(splines.grid_points_from_samples(fit_x, grid_size, grid_eps), fit_x)
        return self.set_grid(splines.resample_grid_points(grid, grid_size), fit_x)
