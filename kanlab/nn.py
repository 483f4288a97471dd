"""``kanlab.nn``: KAN layers for PyTorch users, in ``torch.nn``'s shapes and conventions.

* :class:`KANLinear` ``(*, in_features) -> (*, out_features)``: a :class:`~kanlab.layer.KANLayer`
  with ``torch.nn.Linear``'s names (``in_features``, ``out_features``, factory ``device``/``dtype``,
  ``reset_parameters``) and efficient-kan's constructor arguments (``grid_size``, ``spline_order``,
  ``scale_noise``, ``scale_base``, ``scale_spline``, ``enable_standalone_scale_spline``,
  ``base_activation``, ``grid_eps``, ``grid_range``) and methods (``update_grid``,
  ``regularization_loss``).
* :class:`KAN`: efficient-kan's container, ``KAN(layers_hidden=[784, 64, 10])``, with
  ``forward(x, update_grid=False)`` and ``regularization_loss()``. (``kanlab.KAN`` is the pykan-style
  model with ``fit``, ``plot``, symbolic fitting; this one is a plain stack of ``KANLinear``.)
* :class:`KANConv1d`, :class:`KANConv2d`: ``torch.nn.Conv1d``/``Conv2d``'s arguments, shapes and
  checks, each output a KAN edge sum over its receptive field.

Every layer takes ``basis=``: a name from :data:`kanlab.bases_family.BASIS_NAMES` (``"bspline"`` by
default).

This module is also a superset of ``torch.nn``: any name it does not define is looked up in
``torch.nn`` (``kanlab.nn.Module is torch.nn.Module``, ``kanlab.nn.functional``, ``kanlab.nn.init``),
so ``from kanlab import *`` can hand pykan users the ``nn`` they expect from ``from kan import *``,
with the KAN layers added.
"""
from __future__ import annotations

import math
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as _tnn
import torch.nn.functional as _F

from .bases import BASE_FUNCTIONS, BaseFunction, Basis, resolve_base_fun
from .bases_family import BASIS_NAMES, make_basis
from .layer import BasisOwner, KANLayer
from .validation import check_positive_int

__all__ = ["KANLinear", "KAN", "KANConv1d", "KANConv2d", "BASIS_NAMES"]

_Device = Optional[Union[str, torch.device]]
#: efficient-kan passes a module class (``torch.nn.SiLU``); kanlab names ('silu', 'identity', 'zero'),
#: module instances and plain callables are accepted too.
BaseActivation = Union[str, type, Callable[[torch.Tensor], torch.Tensor]]


def __getattr__(name: str) -> Any:
    """Names this module does not define come from ``torch.nn`` (PEP 562)."""
    try:
        return getattr(_tnn, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r} (nor has torch.nn)") from None


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(dir(_tnn)))


# ------------------------------------------------------------------ shared helpers
def _resolve_activation(base_activation: BaseActivation) -> Union[str, Callable[[torch.Tensor], torch.Tensor]]:
    """A :data:`~kanlab.bases.BASE_FUNCTIONS` name where one matches (those have known derivatives and
    the fused fast path), else a callable: ``torch.nn.SiLU``/``SiLU()`` -> 'silu',
    ``torch.nn.Identity``/``Identity()`` -> 'identity'; another module class is instantiated."""
    if isinstance(base_activation, str):
        if base_activation not in BASE_FUNCTIONS:
            raise ValueError(f"base_activation must be one of {sorted(BASE_FUNCTIONS)}, a torch.nn module "
                             f"(class or instance) or a callable, got {base_activation!r}")
        return base_activation
    known = {_tnn.SiLU: "silu", _tnn.Identity: "identity"}
    if isinstance(base_activation, type):
        if not issubclass(base_activation, _tnn.Module):
            raise ValueError(f"base_activation class must be a torch.nn.Module subclass, got {base_activation!r}")
        return known.get(base_activation) or base_activation()
    if type(base_activation) in known:
        return known[type(base_activation)]
    if callable(base_activation):
        return base_activation
    raise ValueError(f"base_activation must be one of {sorted(BASE_FUNCTIONS)}, a torch.nn module "
                     f"(class or instance) or a callable, got {base_activation!r}")


def _make_basis(basis: Union[str, Basis], in_dim: int, grid_size: int, spline_order: int,
                grid_range: Sequence[float], device: _Device, dtype: Optional[torch.dtype]) -> Tuple[Basis, str]:
    """A fresh basis for ``in_dim`` inputs and its name (``basis`` a name or a :class:`Basis`)."""
    if isinstance(basis, Basis):
        return basis, type(basis).__name__
    if not isinstance(basis, str) or basis not in BASIS_NAMES:
        raise ValueError(f"basis must be one of {list(BASIS_NAMES)}, got {basis!r}")
    grid_range = tuple(float(v) for v in grid_range)
    return make_basis(basis, in_dim, grid_size, spline_order, grid_range, device=device,
                      dtype=dtype or torch.get_default_dtype()), basis


def _uniform(shape: Sequence[int], generator: Optional[torch.Generator], like: torch.Tensor) -> torch.Tensor:
    """``U(-1, 1)`` of ``shape``, drawn in float64 on the CPU (the same values on any device and dtype),
    returned on ``like``'s device and dtype."""
    u = torch.rand(*shape, generator=generator, dtype=torch.float64, device="cpu") * 2 - 1
    return u.to(device=like.device, dtype=like.dtype)


def _sparsity_loss(l1: torch.Tensor, regularize_activation: float, regularize_entropy: float) -> torch.Tensor:
    """efficient-kan's weight-based stand-in for the KAN paper's regulariser: ``l1`` holds each
    edge's mean absolute spline coefficient (any shape); returns
    ``regularize_activation * sum(l1) + regularize_entropy * entropy(l1 / sum(l1))``."""
    tiny = torch.finfo(l1.dtype).tiny
    total = l1.sum()
    p = l1 / total.clamp_min(tiny)
    # 0 log 0 = 0, with a finite gradient: an edge whose weights are exactly 0 gives no NaN
    entropy = -(p * p.clamp_min(tiny).log()).sum()
    return regularize_activation * total + regularize_entropy * entropy


# ------------------------------------------------------------------ fully connected
class KANLinear(KANLayer):
    r"""A KAN layer with ``torch.nn.Linear``'s interface: ``y_j = sum_i phi_ji(x_i)``, where
    ``phi_ji(x) = scale_base[j, i] * b(x) + scale_spline[j, i] * sum_n coef[j, i, n] * B_n(x)``.

    Args:
        in_features, out_features: sizes of each input and output sample.
        grid_size: grid intervals of the basis (B-splines: ``n_basis = grid_size + spline_order``).
        spline_order: B-spline order (ignored by bases without one).
        scale_noise: initial coefficients are uniform in ``±scale_noise / (2 grid_size)``.
        scale_base: ``scale_base`` starts uniform in ``±scale_base / sqrt(in_features)`` (as
            ``nn.Linear``'s weight for ``scale_base = 1``).
        scale_spline: ``scale_spline`` starts at ``scale_spline / sqrt(in_features)``.
        enable_standalone_scale_spline: whether ``scale_spline`` is trained (efficient-kan's name).
        base_activation: the residual function ``b``: ``torch.nn.SiLU`` (default, as efficient-kan),
            any module class or instance, a callable, or a kanlab name ('silu', 'identity', 'zero').
        grid_eps: grid updates blend a uniform (1) and a quantile (0) grid.
        grid_range: the initial grid ``(lo, hi)``; inputs outside it see only the base term (after
            the B-splines' taper).
        basis: a name from :data:`BASIS_NAMES` or a :class:`~kanlab.bases.Basis` for
            ``in_features`` inputs.
        device, dtype: factory arguments, as in ``torch.nn``.

    Shape:
        - Input: :math:`(*, H_{in})` with :math:`H_{in} =` ``in_features`` (any leading dims).
        - Output: :math:`(*, H_{out})` with :math:`H_{out} =` ``out_features``.

    Attributes:
        coef: ``(out_features, in_features, n_basis)``; scale_base, scale_spline:
        ``(out_features, in_features)``; buffers: the basis's (B-splines: ``knots``) and ``mask``.

    Everything :class:`~kanlab.layer.KANLayer` offers works here too (``update_grid_from_samples``,
    ``refine``, ``edge_activations``, ``forward_derivatives``).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        grid_size: int = 5,
        spline_order: int = 3,
        scale_noise: float = 0.1,
        scale_base: float = 1.0,
        scale_spline: float = 1.0,
        enable_standalone_scale_spline: bool = True,
        base_activation: BaseActivation = _tnn.SiLU,
        grid_eps: float = 0.02,
        grid_range: Sequence[float] = (-1.0, 1.0),
        *,
        basis: Union[str, Basis] = "bspline",
        device: _Device = None,
        dtype: Optional[torch.dtype] = None,
    ) -> None:
        check_positive_int("in_features", in_features)
        check_positive_int("out_features", out_features)
        edge_basis, basis_name = _make_basis(basis, in_features, grid_size, spline_order, grid_range, device, dtype)
        super().__init__(
            in_features, out_features, grid_size, spline_order, grid_range=grid_range, grid_eps=grid_eps,
            noise_scale=scale_noise, scale_base_mu=0.0, scale_base_sigma=scale_base, scale_spline=scale_spline,
            base_fun=_resolve_activation(base_activation), sp_trainable=enable_standalone_scale_spline,
            basis=edge_basis, device=device, dtype=dtype,
        )
        self.basis_name = basis_name
        self.scale_noise, self.scale_base_init, self.scale_spline_init = float(scale_noise), float(scale_base), float(scale_spline)

    @property
    def in_features(self) -> int:
        return self.in_dim

    @property
    def out_features(self) -> int:
        return self.out_dim

    @torch.no_grad()
    def reset_parameters(self, generator: Optional[torch.Generator] = None) -> None:
        """Draw ``coef``, ``scale_base`` and ``scale_spline`` again as the constructor does (in
        place; the grid and the mask are kept). ``generator``: a seeded ``torch.Generator`` for a
        reproducible draw (default: torch's global one)."""
        inv_sqrt = 1.0 / math.sqrt(self.in_dim)
        self.coef.copy_(_uniform(self.coef.shape, generator, self.coef) * (self.scale_noise / (2 * self.grid_size)))
        self.scale_base.copy_(_uniform(self.scale_base.shape, generator, self.scale_base) * (self.scale_base_init * inv_sqrt))
        self.scale_spline.fill_(self.scale_spline_init * inv_sqrt)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, grid_size={self.grid_size}, "
                f"spline_order={self.spline_order}, basis={self.basis_name!r}, base_activation={self.base_fun_name!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(*, in_features) -> (*, out_features)``."""
        if x.ndim == 0 or x.shape[-1] != self.in_dim:
            raise RuntimeError(f"{type(self).__name__}(in_features={self.in_dim}) expects input of shape "
                               f"(*, {self.in_dim}), got {tuple(x.shape)}")
        if x.numel() == 0:  # an empty batch: nothing to evaluate
            return x.new_zeros(*x.shape[:-1], self.out_dim) + 0 * self.coef.sum()
        return super().forward(x)

    @torch.no_grad()
    def update_grid(self, x: torch.Tensor, grid_size: Optional[int] = None) -> None:
        """efficient-kan's name for :meth:`~kanlab.layer.KANLayer.update_grid_from_samples`: adapt
        the grid to the inputs ``x`` ``(*, in_features)`` (with ``grid_size``: also change its
        resolution), refitting the coefficients by least squares on every row so the layer's
        function is kept there. Raises ``ValueError`` for a basis without a grid."""
        if not self.edge_basis.has_grid:
            raise ValueError(f"basis {self.basis_name!r} has no grid to update; use a grid basis such as "
                             f"'bspline', or train without grid updates")
        self.update_grid_from_samples(x.reshape(-1, self.in_dim), grid_size)

    def regularization_loss(self, regularize_activation: float = 1.0, regularize_entropy: float = 1.0) -> torch.Tensor:
        """efficient-kan's sparsity regulariser (a scalar): ``regularize_activation * L1 +
        regularize_entropy * entropy`` of each edge's mean absolute spline weight
        ``|coef * scale_spline * mask|`` (efficient-kan takes the coefficients without their scale).
        The KAN paper's sample-based form is ``kanlab.KAN.fit(lamb=...)``."""
        weight = self.coef * (self.scale_spline * self.mask).unsqueeze(-1)
        return _sparsity_loss(weight.abs().mean(-1), regularize_activation, regularize_entropy)


class KAN(_tnn.Module):
    """efficient-kan's container: a stack of :class:`KANLinear` layers of widths ``layers_hidden``.

    The arguments after ``layers_hidden`` are :class:`KANLinear`'s, shared by every layer.
    Unlike ``kanlab.KAN`` (the pykan-style model: ``fit``, ``refine``, ``plot``, symbolic fitting),
    this is a plain ``nn.Module`` to use in your own training loop.

    Shape:
        - Input: ``(*, layers_hidden[0])``.
        - Output: ``(*, layers_hidden[-1])``.
    """

    def __init__(
        self,
        layers_hidden: Sequence[int],
        grid_size: int = 5,
        spline_order: int = 3,
        scale_noise: float = 0.1,
        scale_base: float = 1.0,
        scale_spline: float = 1.0,
        base_activation: BaseActivation = _tnn.SiLU,
        grid_eps: float = 0.02,
        grid_range: Sequence[float] = (-1.0, 1.0),
        *,
        enable_standalone_scale_spline: bool = True,
        basis: str = "bspline",
        device: _Device = None,
        dtype: Optional[torch.dtype] = None,
    ) -> None:
        super().__init__()
        widths = list(layers_hidden)
        if len(widths) < 2:
            raise ValueError(f"layers_hidden needs at least two widths (input and output), got {layers_hidden!r}")
        self.grid_size, self.spline_order = grid_size, spline_order
        self.layers = _tnn.ModuleList(
            KANLinear(n_in, n_out, grid_size, spline_order, scale_noise, scale_base, scale_spline,
                      enable_standalone_scale_spline, base_activation, grid_eps, grid_range,
                      basis=basis, device=device, dtype=dtype)
            for n_in, n_out in zip(widths[:-1], widths[1:])
        )

    def forward(self, x: torch.Tensor, update_grid: bool = False) -> torch.Tensor:
        """``(*, layers_hidden[0]) -> (*, layers_hidden[-1])``. With ``update_grid=True`` each layer
        first adapts its grid to the inputs it receives from this batch (:meth:`KANLinear.update_grid`),
        then computes."""
        for layer in self.layers:
            if update_grid:
                layer.update_grid(x)
            x = layer(x)
        return x

    def regularization_loss(self, regularize_activation: float = 1.0, regularize_entropy: float = 1.0) -> torch.Tensor:
        """The sum of the layers' :meth:`KANLinear.regularization_loss`."""
        return sum(layer.regularization_loss(regularize_activation, regularize_entropy) for layer in self.layers)


# ------------------------------------------------------------------ convolutions
_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _tuple(name: str, value: Union[int, Sequence[int]], n: int, low: int) -> Tuple[int, ...]:
    """``value`` (an int or ``n`` ints, each >= ``low``) as an ``n``-tuple; ``ValueError`` otherwise."""
    values = (value,) * n if isinstance(value, int) and not isinstance(value, bool) else tuple(value)  # type: ignore[arg-type]
    if len(values) != n or not all(isinstance(v, int) and not isinstance(v, bool) and v >= low for v in values):
        raise ValueError(f"{name} must be an int >= {low} or a tuple of {n} such ints, got {value!r}")
    return values


class _KANConvNd(BasisOwner):
    """The shared body of :class:`KANConv1d` and :class:`KANConv2d` (``_dims`` spatial dimensions).

    Output channel ``o`` at a position is ``bias[o] + sum over the receptive field (c, kernel
    offset u) of phi_{o,c,u}(x[c, position + u])``: one KAN edge per (output channel, input channel
    of its group, kernel offset), with ``phi_{o,c,u}(x) = scale_base[o, c, u] * b(x) +
    scale_spline[o, c, u] * sum_n coef[o, c, n, u] * B_n^c(x)``. The basis ``B^c`` belongs to the input
    channel (its grid is shared by the kernel offsets, which see the same pixels), so each pixel's
    basis values are computed once, not once per kernel offset: the features ``(N, C * (n_basis + 1),
    *spatial)`` (the basis values and ``b(x)`` per channel) go through one ordinary convolution whose
    weight holds the edges' coefficients and scales. Padding is applied to ``x`` before the basis, so
    a padded position is an edge evaluated at the padding value, as in the unfold formulation.
    """

    _BASIS_DIM = 2  # coef (C_out, C_in / groups, n_basis, *kernel_size)

    _dims: int = 0

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Union[int, Sequence[int]],
        stride: Union[int, Sequence[int]] = 1,
        padding: Union[str, int, Sequence[int]] = 0,
        dilation: Union[int, Sequence[int]] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        *,
        grid_size: int = 5,
        spline_order: int = 3,
        basis: str = "bspline",
        base_activation: BaseActivation = "silu",
        grid_range: Sequence[float] = (-1.0, 1.0),
        grid_eps: float = 0.02,
        scale_noise: float = 0.1,
        scale_base: float = 1.0,
        scale_spline: float = 1.0,
        device: _Device = None,
        dtype: Optional[torch.dtype] = None,
    ) -> None:
        super().__init__()
        n = self._dims
        check_positive_int("in_channels", in_channels)
        check_positive_int("out_channels", out_channels)
        check_positive_int("groups", groups)
        if in_channels % groups:
            raise ValueError(f"in_channels must be divisible by groups, got in_channels={in_channels}, groups={groups}")
        if out_channels % groups:
            raise ValueError(f"out_channels must be divisible by groups, got out_channels={out_channels}, groups={groups}")
        self.kernel_size = _tuple("kernel_size", kernel_size, n, 1)
        self.stride = _tuple("stride", stride, n, 1)
        self.dilation = _tuple("dilation", dilation, n, 1)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of ['valid', 'same'] or an int/tuple")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
            self.padding: Union[str, Tuple[int, ...]] = padding
        else:
            self.padding = _tuple("padding", padding, n, 0)
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {list(_PADDING_MODES)}, got {padding_mode!r}")
        if not 0.0 <= grid_eps <= 1.0:
            raise ValueError(f"grid_eps must lie in [0, 1], got {grid_eps}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.padding_mode, self.grid_eps = padding_mode, float(grid_eps)
        # (left, right) per spatial dim; 'same' puts the odd extra element on the right, as torch does
        pads = []
        for d in range(n):
            if self.padding == "same":
                total = self.dilation[d] * (self.kernel_size[d] - 1)
                pads.append((total // 2, total - total // 2))
            elif self.padding == "valid":
                pads.append((0, 0))
            else:
                pads.append((self.padding[d], self.padding[d]))  # type: ignore[index]
        self._pads: Tuple[Tuple[int, int], ...] = tuple(pads)

        kw = {"device": device, "dtype": dtype or torch.get_default_dtype()}
        self.edge_basis, self.basis_name = _make_basis(basis, in_channels, grid_size, spline_order, grid_range,
                                                       device, dtype)
        self.edge_basis.attach(self)  # its tensors (B-splines: knots (in_channels, G + 2k + 1)) become buffers
        self._base: BaseFunction = resolve_base_fun(_resolve_activation(base_activation))
        self.base_activation = self._base.fn  # a module instance registers as a submodule
        c_in = in_channels // groups
        self.scale_noise, self.scale_base_init, self.scale_spline_init = float(scale_noise), float(scale_base), float(scale_spline)
        self.coef = _tnn.Parameter(torch.empty(out_channels, c_in, self.n_basis, *self.kernel_size, **kw))
        self.scale_base = _tnn.Parameter(torch.empty(out_channels, c_in, *self.kernel_size, **kw),
                                         requires_grad=not self._base.zero)
        self.scale_spline = _tnn.Parameter(torch.empty(out_channels, c_in, *self.kernel_size, **kw))
        self.bias = _tnn.Parameter(torch.empty(out_channels, **kw)) if bias else None
        self.reset_parameters()

    # ---- state
    @torch.no_grad()
    def reset_parameters(self, generator: Optional[torch.Generator] = None) -> None:
        """Draw the parameters as the constructor does: ``coef`` uniform in ``±scale_noise / (2 G)``,
        ``scale_base`` uniform in ``±scale_base / sqrt(fan_in)`` and ``bias`` in ``±1 / sqrt(fan_in)``
        (``nn.Conv``'s bounds; ``fan_in = in_channels / groups * prod(kernel_size)``),
        ``scale_spline = scale_spline / sqrt(fan_in)``. The grid is kept."""
        inv_sqrt = 1.0 / math.sqrt(self.coef.shape[1] * math.prod(self.kernel_size))
        self.coef.copy_(_uniform(self.coef.shape, generator, self.coef) * (self.scale_noise / (2 * self.grid_size)))
        self.scale_base.copy_(_uniform(self.scale_base.shape, generator, self.scale_base) * (self.scale_base_init * inv_sqrt))
        self.scale_spline.fill_(self.scale_spline_init * inv_sqrt)
        if self.bias is not None:
            self.bias.copy_(_uniform(self.bias.shape, generator, self.bias) * inv_sqrt)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self._dims:
            s += f", padding={self.padding!r}"
        if self.dilation != (1,) * self._dims:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode!r}"
        return s + (f", grid_size={self.grid_size}, spline_order={self.spline_order}, basis={self.basis_name!r}, "
                    f"base_activation={self._base.name!r}")

    # ---- forward
    def _check_input(self, x: torch.Tensor) -> Tuple[torch.Tensor, bool]:
        """``x`` as a batch ``(N, C, *spatial)`` and whether it came unbatched; torch.nn's errors."""
        n, name = self._dims, f"conv{self._dims}d"
        if x.ndim not in (n + 1, n + 2):
            raise RuntimeError(f"Expected {n + 1}D (unbatched) or {n + 2}D (batched) input to {name}, "
                               f"but got input of size: {list(x.shape)}")
        unbatched = x.ndim == n + 1
        if unbatched:
            x = x.unsqueeze(0)
        if x.shape[1] != self.in_channels:
            raise RuntimeError(f"Given groups={self.groups}, {type(self).__name__} expected input{list(x.shape)} to "
                               f"have {self.in_channels} channels, but got {x.shape[1]} channels instead")
        if not x.is_floating_point() or x.dtype != self.coef.dtype:
            raise RuntimeError(f"Input type ({x.dtype}) and parameter type ({self.coef.dtype}) should be the same")
        padded = [x.shape[2 + d] + sum(self._pads[d]) for d in range(n)]
        extent = [self.dilation[d] * (self.kernel_size[d] - 1) + 1 for d in range(n)]
        if any(p < e for p, e in zip(padded, extent)):
            show = lambda v: " x ".join(str(i) for i in v)  # noqa: E731
            raise RuntimeError(f"Calculated padded input size per channel: ({show(padded)}). Kernel size: "
                               f"({show(extent)}). Kernel size can't be greater than actual input size")
        return x, unbatched

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(N, C, *spatial)`` padded per ``padding`` and ``padding_mode``."""
        if not any(a or b for a, b in self._pads):
            return x
        flat = [p for pair in reversed(self._pads) for p in pair]  # F.pad: last dimension first
        if self.padding_mode == "zeros":
            return _F.pad(x, flat)
        return _F.pad(x, flat, mode=self.padding_mode)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        """Per pixel and channel, the basis values and ``b(x)``: ``(N, C, *spatial) -> (N, C * F,
        *spatial)`` with ``F = n_basis (+ 1 without a zero base)``, channel-major."""
        c = self.in_channels
        rows = x.movedim(1, -1).reshape(-1, c)  # (N * prod(spatial), C)
        feats = self.edge_basis.evaluate(rows)  # (rows, C, n_basis)
        if not self._base.zero:
            feats = torch.cat([feats, self._base.fn(rows).unsqueeze(-1)], dim=-1)
        return feats.reshape(*x.shape[:1], *x.shape[2:], -1).movedim(-1, 1)

    def conv_weight(self) -> torch.Tensor:
        """The ordinary convolution weight the features go through: ``(out_channels,
        in_channels / groups * F, *kernel_size)``, per input channel the ``n_basis`` spline weights
        ``coef * scale_spline`` then (with a base) ``scale_base``."""
        w = self.coef * self.scale_spline.unsqueeze(2)
        if not self._base.zero:
            w = torch.cat([w, self.scale_base.unsqueeze(2)], dim=2)
        return w.flatten(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C_in, *spatial_in)`` or unbatched ``(C_in, *spatial_in)`` -> ``(N, C_out,
        *spatial_out)`` (or ``(C_out, *spatial_out)``), sizes as ``torch.nn.Conv{1,2}d``'s."""
        x, unbatched = self._check_input(x)
        x = self._pad(x)
        if x.shape[0] == 0:  # an empty batch: torch.nn.Conv returns an empty output
            size = [(x.shape[2 + d] - self.dilation[d] * (self.kernel_size[d] - 1) - 1) // self.stride[d] + 1
                    for d in range(self._dims)]
            y = x.new_zeros(0, self.out_channels, *size) + 0 * self.coef.sum()
        else:
            conv = _F.conv1d if self._dims == 1 else _F.conv2d
            y = conv(self._features(x), self.conv_weight(), self.bias, self.stride, 0, self.dilation, self.groups)
        return y.squeeze(0) if unbatched else y

    # ---- grids
    def _refit(self, refit: torch.Tensor) -> None:
        """Apply a basis refit matrix ``(in_channels, n_new, n_old)`` to every edge: the edges of
        output ``o`` and local input channel ``c`` read input channel ``(o // (out / groups)) *
        (in / groups) + c``."""
        c_in, out_per_group = self.coef.shape[1], self.out_channels // self.groups
        channel = (torch.arange(self.out_channels, device=refit.device)[:, None] // out_per_group) * c_in \
            + torch.arange(c_in, device=refit.device)
        coef = torch.einsum("ocnm,ocm...->ocn...", refit[channel], self.coef.to(refit.dtype)).to(self.coef.dtype)
        if coef.shape == self.coef.shape:
            self.coef.copy_(coef)
        else:
            self.coef = _tnn.Parameter(coef.contiguous(), requires_grad=self.coef.requires_grad)

    def _pixels(self, x: torch.Tensor, max_rows: int) -> torch.Tensor:
        """The (padded) input's pixels as rows ``(n, in_channels)``, at most ``max_rows`` of them
        (evenly spaced)."""
        x, _ = self._check_input(x)
        rows = self._pad(x).movedim(1, -1).reshape(-1, self.in_channels).detach()
        if rows.shape[0] > max_rows:
            rows = rows[torch.linspace(0, rows.shape[0] - 1, max_rows, device=rows.device).long()]
        return rows

    @torch.no_grad()
    def update_grid(self, x: torch.Tensor, grid_size: Optional[int] = None, max_rows: int = 16384) -> None:
        """Adapt each input channel's grid to the pixels of ``x`` ``(N, C_in, *spatial)`` (padding
        included; at most ``max_rows`` pixels, evenly spaced), optionally changing its resolution to
        ``grid_size``; the coefficients are refitted by least squares so every edge keeps its
        function on those pixels. Raises ``ValueError`` for a basis without a grid."""
        if not self.edge_basis.has_grid:
            raise ValueError(f"basis {self.basis_name!r} has no grid to update; use a grid basis such as "
                             f"'bspline', or train without grid updates")
        self._refit(self.edge_basis.adapt(self._pixels(x, max_rows), grid_size, self.grid_eps))

    @torch.no_grad()
    def refine(self, grid_size: int, x: Optional[torch.Tensor] = None, max_rows: int = 16384) -> None:
        """Change the basis resolution to ``grid_size`` keeping every edge's function on the domain
        (B-splines: exactly for a multiple of the current grid size), and on the pixels of ``x``
        if given. Creates a new ``coef`` parameter: build the optimiser after."""
        pixels = None if x is None else self._pixels(x, max_rows)
        self._refit(self.edge_basis.refine(grid_size, pixels, self.grid_eps))

    def regularization_loss(self, regularize_activation: float = 1.0, regularize_entropy: float = 1.0) -> torch.Tensor:
        """efficient-kan's weight-based sparsity regulariser over this layer's edges (see
        :meth:`KANLinear.regularization_loss`)."""
        l1 = (self.coef * self.scale_spline.unsqueeze(2)).abs().mean(2)
        return _sparsity_loss(l1, regularize_activation, regularize_entropy)


class KANConv1d(_KANConvNd):
    r"""A 1-D convolution whose kernel entries are KAN edges (see :class:`_KANConvNd` for the formula),
    with ``torch.nn.Conv1d``'s arguments, shapes and checks.

    Args:
        in_channels, out_channels, kernel_size, stride, padding ('same', 'valid', int or 1-tuple),
        dilation, groups, bias, padding_mode ('zeros', 'reflect', 'replicate', 'circular'): as
            ``torch.nn.Conv1d``.
        grid_size, spline_order, basis, base_activation, grid_range, grid_eps, scale_noise,
        scale_base, scale_spline: as :class:`KANLinear` (default ``base_activation='silu'``).
        device, dtype: factory arguments.

    Shape:
        - Input: :math:`(N, C_{in}, L_{in})` or :math:`(C_{in}, L_{in})`.
        - Output: :math:`(N, C_{out}, L_{out})` or :math:`(C_{out}, L_{out})`, where
          :math:`L_{out} = \lfloor (L_{in} + \text{pad}_l + \text{pad}_r - \text{dilation}
          \times (\text{kernel\_size} - 1) - 1) / \text{stride} + 1 \rfloor`.

    Attributes:
        coef: ``(C_out, C_in / groups, n_basis, kernel_size)``; scale_base, scale_spline:
        ``(C_out, C_in / groups, kernel_size)``; bias: ``(C_out,)`` or None; buffers: the basis's,
        one grid per input channel (B-splines: ``knots (C_in, G + 2k + 1)``).
    """

    _dims = 1


class KANConv2d(_KANConvNd):
    r"""A 2-D convolution whose kernel entries are KAN edges (see :class:`_KANConvNd` for the formula),
    with ``torch.nn.Conv2d``'s arguments, shapes and checks.

    Args:
        in_channels, out_channels, kernel_size, stride, padding ('same', 'valid', int or 2-tuple),
        dilation, groups, bias, padding_mode ('zeros', 'reflect', 'replicate', 'circular'): as
            ``torch.nn.Conv2d``.
        grid_size, spline_order, basis, base_activation, grid_range, grid_eps, scale_noise,
        scale_base, scale_spline: as :class:`KANLinear` (default ``base_activation='silu'``).
        device, dtype: factory arguments.

    Shape:
        - Input: :math:`(N, C_{in}, H_{in}, W_{in})` or :math:`(C_{in}, H_{in}, W_{in})`.
        - Output: :math:`(N, C_{out}, H_{out}, W_{out})` or :math:`(C_{out}, H_{out}, W_{out})`, where
          :math:`H_{out} = \lfloor (H_{in} + \text{pad}_{top} + \text{pad}_{bottom} - \text{dilation}[0]
          \times (\text{kernel\_size}[0] - 1) - 1) / \text{stride}[0] + 1 \rfloor`, and likewise
          :math:`W_{out}`.

    Attributes:
        coef: ``(C_out, C_in / groups, n_basis, kH, kW)``; scale_base, scale_spline:
        ``(C_out, C_in / groups, kH, kW)``; bias: ``(C_out,)`` or None; buffers: the basis's, one grid
        per input channel (B-splines: ``knots (C_in, G + 2k + 1)``).
    """

    _dims = 2
