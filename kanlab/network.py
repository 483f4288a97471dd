"""``KANNetwork``: the network itself, a stack of :class:`~kanlab.layer.KANLayer` and
:class:`~kanlab.symbolic_layer.SymbolicLayer` joined by sum and multiplication nodes.

Everything that defines the function lives here: construction and validation, the node
structure, ``forward`` (no side effects), per-edge activations, grid updates and ``refine``.
Operations on a network (training, symbolic fitting, pruning, plots, checkpoints) are functions
in their own modules that take a ``KANNetwork``; :class:`kanlab.model.KAN` binds them as methods.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import torch
from torch import nn

from . import distributed, kernels
from .bases_family import check_basis_name, make_basis
from .layer import BaseFun, KANLayer
from .symbolic_layer import SymbolicLayer
from .validation import check_int, check_positive_int, check_real, is_int

Device = Union[str, torch.device, None]

class KANNetwork(nn.Module):
    """A Kolmogorov-Arnold Network.

    Args:
        width: layer widths, e.g. ``[2, 5, 1]`` (``width[0]`` inputs, ``width[-1]`` outputs). An
            entry ``[n_sum, n_mult]`` adds multiplication nodes (pykan's MultKAN): each takes
            ``mult_arity`` sub-nodes, each a sum of edges, and outputs their product;
            ``KAN([2, [0, 1], 1])`` expresses ``f(x) * g(y)`` exactly. ``model.width`` counts
            nodes, ``model.mult_width`` the multiplication nodes among them, ``config["width"]``
            keeps the spec.
        mult_arity: factors per multiplication node: one int for all (default 2), or one list per
            node layer giving each of its multiplication nodes' arity (pykan's format, e.g.
            ``[[], [2, 4], []]``).
        grid: grid intervals per edge (alias ``grid_size``); the degree for the bases without a
            grid (``"chebyshev"``, ``"legendre"``, ``"fourier"``). Default 5.
        k: spline order (alias ``spline_order``). Default 3 (cubic). Only B-splines use it.
        basis: the edges' basis family, one of :data:`kanlab.bases_family.BASIS_NAMES`:
            ``"bspline"`` (default), ``"rbf"`` (Gaussians on the grid, FastKAN), ``"chebyshev"``,
            ``"legendre"`` (polynomials of ``tanh``-squashed inputs), ``"fourier"``; see
            ``docs/bases.md``. ``"auto"``: B-splines until the first ``fit``, which first trains
            each family briefly on a held-out split of its data and keeps the best
            (``model.basis_name`` then names it; see :func:`kanlab.model.choose_basis`).
        seed: integer seed for the initialisation; ``None`` draws from torch's global RNG.
        base_fun: residual function: 'silu' (default), 'identity', 'zero' or a callable.
        noise_scale: scale of the initial spline coefficients (splines start near 0).
        scale_base_mu, scale_base_sigma: ``scale_base ~ (mu + sigma * U(-1,1)) / sqrt(fan_in)``
            (pykan's formula and defaults, mu 0, sigma 1: random signs). A new model's first
            ``fit`` also tries fixed sign patterns on its narrow layers (``starts``, see
            :mod:`kanlab.starts`), which makes small pykan-style KANs train reliably from any seed.
        scale_sp: initial spline scale (times ``1 / sqrt(fan_in)``).
        grid_eps: grid update blend: 1 = uniform over the data, 0 = data quantiles.
        grid_range: initial grid range ``(lo, hi)``; inputs outside get only the base term
            (after the ``k`` extension intervals the spline part is exactly 0).
        sp_trainable, sb_trainable: train ``scale_spline`` / ``scale_base``.
        fast: use the fast path (default; see :mod:`kanlab.kernels`); ``False`` runs the plain
            reference path. ``contraction``: the fast path's formulation, ``"auto"`` (by grid
            size), ``"dense"`` or ``"sparse"``.
        device, dtype: where and in which float type parameters live.
        save_act, symbolic_enabled, affine_trainable, sparse_init, auto_save, first_init, ckpt_path,
            state_id, round: pykan's options, accepted where kanlab has the meaning:
            ``save_act`` sets ``model.save_act`` (``False``: as after ``speed()``, ``fit`` then
            trains without the regulariser); ``symbolic_enabled`` is stored and has no effect (an
            inactive symbolic layer costs nothing; edges you fix still count); ``auto_save``,
            ``ckpt_path`` (default ``'./model'`` with ``auto_save=True``), ``state_id`` and
            ``round`` are stored, and on a ``KAN`` with ``auto_save=True`` (kanlab's default is
            ``False``: no files written) the constructor (unless ``first_init=False``) and every
            state-changing method save a version (:mod:`kanlab.history`). Refused with a
            ``ValueError`` naming the alternative: ``affine_trainable=True`` (kanlab has no
            per-node affine parameters) and ``sparse_init=True``.

    Shapes: ``forward`` maps ``(*, width[0]) -> (*, width[-1])`` like ``nn.Linear`` (``(batch,
    width[0])``, ``(B, T, width[0])`` or one ``(width[0],)`` sample); the methods that take data
    (``fit``, ``update_grid``, ``refine``, ``attribute``, ``plot``) take ``(batch, width[0])``.
    """

    def __init__(
        self,
        width: Sequence[int],
        grid: Optional[int] = None,
        k: Optional[int] = None,
        *,
        seed: Optional[int] = None,
        base_fun: BaseFun = "silu",
        noise_scale: float = 0.3,
        scale_base_mu: Optional[float] = 0.0,
        scale_base_sigma: Optional[float] = 1.0,
        scale_sp: float = 1.0,
        grid_eps: float = 0.02,
        grid_range: Sequence[float] = (-1.0, 1.0),
        sp_trainable: bool = True,
        sb_trainable: bool = True,
        fast: bool = True,
        contraction: str = "auto",
        device: Device = None,
        dtype: Optional[torch.dtype] = None,
        grid_size: Optional[int] = None,
        spline_order: Optional[int] = None,
        mult_arity: Union[int, Sequence[Sequence[int]]] = 2,
        save_act: bool = True,
        symbolic_enabled: bool = True,
        affine_trainable: bool = False,
        sparse_init: bool = False,
        auto_save: bool = False,
        first_init: bool = True,
        ckpt_path: Union[str, os.PathLike, None] = None,
        state_id: int = 0,
        round: int = 0,  # noqa: A002 - pykan's name
        basis: str = "bspline",
    ) -> None:
        """Build the network; the arguments are described in the class docstring (``help(KAN)``)."""
        super().__init__()
        self.width, self.mult_width, spec = _check_width(width)
        self.mult_arity = _check_arity(mult_arity, self.mult_width)
        if isinstance(grid_range, (str, bytes)) or not isinstance(grid_range, Sequence) or len(grid_range) != 2:
            raise ValueError(f"grid_range must be a pair (lo, hi), got {grid_range!r}")
        grid = _alias("grid", grid, "grid_size", grid_size, default=5)
        k = _alias("k", k, "spline_order", spline_order, default=3)
        if seed is not None and not is_int(seed):
            raise TypeError(f"seed must be an int or None, got {seed!r}")
        if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise TypeError(f"dtype must be a floating point dtype, got {dtype}")
        generator = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        check_basis_name(basis, allow_auto=True)
        basis_kind = "bspline" if basis == "auto" else basis  # "auto": B-splines until fit chooses
        self.config: Dict[str, Any] = dict(
            width=spec, mult_arity=[list(a) for a in self.mult_arity], grid=grid, k=k, seed=seed,
            base_fun=base_fun if isinstance(base_fun, str) else "custom",
            noise_scale=noise_scale, scale_base_mu=scale_base_mu, scale_base_sigma=scale_base_sigma,
            scale_sp=scale_sp, grid_eps=grid_eps, grid_range=[float(v) for v in grid_range],
            sp_trainable=sp_trainable, sb_trainable=sb_trainable, fast=bool(fast), contraction=contraction,
        )
        if basis != "bspline":  # B-spline configs stay as they were (older kanlab reads them)
            self.config["basis"] = basis
        self.layers = nn.ModuleList(
            KANLayer(
                self.width[i], self.n_sub(i + 1), grid, k,
                grid_range=grid_range, grid_eps=grid_eps, noise_scale=noise_scale,
                scale_base_mu=scale_base_mu, scale_base_sigma=scale_base_sigma,
                scale_spline=scale_sp, base_fun=base_fun, sp_trainable=sp_trainable,
                sb_trainable=sb_trainable, generator=generator, fast=fast, contraction=contraction,
                device=device, dtype=dtype,
                basis=make_basis(basis_kind, self.width[i], grid, k, grid_range, device=device, dtype=dtype),
            )
            for i in range(len(self.width) - 1)
        )
        # symbolic edges beside each spline layer (all inactive until fix_symbolic/auto_symbolic)
        self.symbolic = nn.ModuleList(
            SymbolicLayer(self.width[i], self.n_sub(i + 1), device=device, dtype=dtype)
            for i in range(len(self.width) - 1)
        )
        # original input column of each input node (prune_input keeps a subset): model state, saved
        self.register_buffer("input_index", torch.arange(self.width[0], device=device))
        self.register_load_state_dict_post_hook(_sync_config)  # layers adopt a loaded state's grid size
        # the last fit's training data: the default data of refine, attribution, plots and symbolic
        # fitting (set with remember_data; saved by checkpoints)
        self.cache_data: Optional[torch.Tensor] = None
        self.cache_target: Optional[torch.Tensor] = None
        # True until trained or loaded: fit(starts="auto") then tries other starts (kanlab.starts)
        self.fresh = True
        _check_pykan_options(affine_trainable=affine_trainable, sparse_init=sparse_init)
        # kanlab.history's options (checkpoints save them; load_state_dict leaves them alone)
        self.auto_save = bool(auto_save)
        self.ckpt_path = os.fspath(ckpt_path) if ckpt_path is not None else "./model" if auto_save else None
        self.state_id = check_int("state_id", state_id, low=0)
        self.round = check_int("round", round, low=0)
        self.save_act, self.symbolic_enabled = bool(save_act), bool(symbolic_enabled)

    # ------------------------------------------------------------------ properties
    @property
    def depth(self) -> int:
        return len(self.layers)

    @property
    def grid(self) -> int:
        """Grid size of the first layer (all layers share it unless set otherwise)."""
        return self.layers[0].grid_size

    @property
    def k(self) -> int:
        return self.layers[0].spline_order

    @property
    def basis_name(self) -> str:
        """The edges' basis family (``config["basis"]``, ``"bspline"`` by default); ``"auto"``
        until the first ``fit`` of a ``KAN(basis="auto")`` picks one."""
        return self.config.get("basis", "bspline")

    @property
    def device(self) -> torch.device:
        return self.layers[0].coef.device

    @property
    def dtype(self) -> torch.dtype:
        return self.layers[0].coef.dtype

    def extra_repr(self) -> str:
        basis = "" if self.basis_name == "bspline" else f", basis={self.basis_name!r}"
        return f"width={self.config['width']}, grid={self.grid}, k={self.k}{basis}"

    @property
    def input_id(self) -> List[int]:
        """Original input index of each input node ``(width[0],)`` as a list: ``[0, 1, ...]``, or the
        kept columns after :meth:`prune_input`. Stored in the ``input_index`` buffer (so it is saved)."""
        return self.input_index.tolist()

    @input_id.setter
    def input_id(self, ids: Sequence[int]) -> None:
        ids = torch.as_tensor(ids, dtype=torch.long, device=self.input_index.device)
        _check_input_index(ids, self.width[0])
        self.input_index.copy_(ids)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,  # type: ignore[override]
                              unexpected_keys, error_msgs):
        key = prefix + "input_index"  # absent from state dicts written before it was state: the identity
        ids = state_dict.setdefault(key, torch.arange(self.width[0], device=self.input_index.device))
        if isinstance(ids, torch.Tensor) and not ids.is_meta:
            try:
                _check_input_index(ids, self.width[0])
            except ValueError as err:
                error_msgs.append(f"{key}: {err}")
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)
        self.fresh = False

    # ------------------------------------------------------------------ nodes
    def n_sum(self, l: int) -> int:
        """Sum nodes of node layer ``l``; they come first, the multiplication nodes after them."""
        return self.width[l] - self.mult_width[l]

    def n_sub(self, l: int) -> int:
        """Sub-nodes of node layer ``l``: what layer ``l - 1``'s edges sum into. A sum node has
        one, a multiplication node one per factor (``n_sum + sum(mult_arity[l])`` in all)."""
        return self.n_sum(l) + sum(self.mult_arity[l])

    def node_of_sub(self, l: int) -> List[int]:
        """For each sub-node of node layer ``l``, the node it feeds (sums first, then each product's factors)."""
        n_sum = self.n_sum(l)
        return list(range(n_sum)) + [n_sum + m for m, a in enumerate(self.mult_arity[l]) for _ in range(a)]

    def nodes(self, l: int, sub: torch.Tensor) -> torch.Tensor:
        """Node values of node layer ``l`` from its sub-nodes ``(batch, n_sub(l)) -> (batch,
        width[l])``: sum nodes pass through, each multiplication node multiplies its
        ``mult_arity`` consecutive sub-nodes."""
        if not self.mult_width[l]:
            return sub
        n_sum, arity = self.n_sum(l), self.mult_arity[l]
        if len(set(arity)) == 1:  # one arity: a reshape
            return torch.cat([sub[:, :n_sum], sub[:, n_sum:].unflatten(1, (len(arity), arity[0])).prod(-1)], dim=1)
        starts = [n_sum + sum(arity[:m]) for m in range(len(arity))]
        products = [sub[:, s:s + a].prod(-1, keepdim=True) for s, a in zip(starts, arity)]
        return torch.cat([sub[:, :n_sum]] + products, dim=1)

    # ------------------------------------------------------------------ forward
    def check_input(self, x: torch.Tensor, name: str = "input", leading_dims: bool = False) -> None:
        """Raise a clear error unless ``x`` is a finite ``(batch >= 1, width[0])`` float tensor on
        the model's device and dtype; with ``leading_dims`` (``forward``), ``(*, width[0])`` like
        ``nn.Linear``'s input: any leading dims, none included, but no empty one.

        The finiteness check is data-dependent control flow: it is skipped where ``x`` is traced
        or transformed (``torch.jit.trace``, ``torch.compile``/``export``, ``torch.func``)."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if leading_dims:
            if x.ndim < 1 or x.shape[-1] != self.width[0]:
                raise ValueError(f"{name} must have shape (..., {self.width[0]}) (like nn.Linear: any leading "
                                 f"dims), got {tuple(x.shape)}")
        elif x.ndim != 2 or x.shape[1] != self.width[0]:
            raise ValueError(
                f"{name} must have shape (batch, {self.width[0]}), got {tuple(x.shape)}"
            )
        if x.numel() == 0:
            raise ValueError(f"{name} is an empty batch (shape {tuple(x.shape)})")
        if x.device != self.device:
            raise ValueError(f"{name} is on {x.device} but the model is on {self.device}; move one with .to()")
        if x.dtype != self.dtype:
            fix = f"x.to({self.dtype})" + (f" or the model with .to({x.dtype})" if x.is_floating_point() else
                                           " (a KAN computes in a floating point dtype)")
            raise TypeError(f"{name} has dtype {x.dtype} but the model is {self.dtype}; convert with {fix}")
        if not _is_traced(x) and not _all_finite(x):
            raise ValueError(f"{name} contains NaN or Inf values")

    def layer_forward(self, l: int, x: torch.Tensor) -> torch.Tensor:
        """Layer ``l`` (spline plus symbolic edges, then the nodes): ``(batch, width[l]) ->
        (batch, width[l + 1])``."""
        y = self.layers[l](x)
        sym = self.symbolic[l]
        return self.nodes(l + 1, y + sym(x) if sym.n_active else y)

    def edge_activations(self, l: int, x: torch.Tensor) -> torch.Tensor:
        """Layer ``l``'s edge values ``(batch, width[l]) -> (batch, n_sub(l + 1), width[l])``
        (spline + symbolic)."""
        phi = self.layers[l].edge_activations(x)
        sym = self.symbolic[l]
        return phi + sym.edge_activations(x) if sym.n_active else phi

    def forward(self, x: torch.Tensor, singularity_avoiding: bool = False, y_th: float = 10.0) -> torch.Tensor:
        """``(*, width[0]) -> (*, width[-1])`` like ``nn.Linear``: ``(batch, width[0])``, ``(B, T,
        width[0])`` or a single ``(width[0],)`` sample. The layers run on ``(prod(*), width[0])``.
        ``singularity_avoiding``, ``y_th``: pykan's, accepted without effect (kanlab's symbolic
        functions always clamp at their singularities)."""
        self.check_input(x, leading_dims=True)
        lead = x.shape[:-1]
        x = x.reshape(-1, self.width[0])
        for l in range(self.depth):
            x = self.layer_forward(l, x)
        return x.reshape(*lead, self.width[-1])

    def forward_with_activations(self, x: torch.Tensor) -> tuple[torch.Tensor, List[torch.Tensor]]:
        """Output plus every layer's edge activations ``(batch, n_sub(l + 1), width[l])``."""
        self.check_input(x)
        acts = []
        for l in range(self.depth):
            phi = self.edge_activations(l, x)
            acts.append(phi)
            x = self.nodes(l + 1, phi.sum(-1))
        return x, acts

    def data(self, x: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``x`` ``(batch, width[0])`` on the model's device and dtype, or by default the cached
        training inputs (``ValueError`` naming the fix when there are none)."""
        if x is None:
            x = self.cache_data
        if x is None:
            raise ValueError("no data: call model.fit(...) first (it caches the training inputs) or pass x=")
        return x.to(device=self.device, dtype=self.dtype)

    def check_edge(self, l: int, i: int, j: int) -> None:
        """Raise ``IndexError`` naming the valid ranges unless edge ``i -> j`` of layer ``l`` exists
        (``TypeError`` unless all three are ints)."""
        for name, v in (("l", l), ("i", i), ("j", j)):
            check_int(name, v, error=TypeError)
        if not 0 <= l < self.depth:
            raise IndexError(f"layer l={l} out of range: the model has layers 0..{self.depth - 1}")
        n_in, n_out = self.width[l], self.n_sub(l + 1)
        if not 0 <= i < n_in:
            raise IndexError(f"input node i={i} out of range for layer {l} (0..{n_in - 1})")
        if not 0 <= j < n_out:
            raise IndexError(f"output node j={j} out of range for layer {l} (0..{n_out - 1})")

    def remember_data(self, x: Optional[torch.Tensor], y: Optional[torch.Tensor] = None) -> None:
        """Keep ``x`` ``(n, width[0])`` (and labels ``y``) as the default data of ``refine``,
        attribution, plots and symbolic fitting; ``fit`` calls it with its training split. The
        tensors stay where they are (users of the cache move them to the model's device/dtype)."""
        if x is not None and not (isinstance(x, torch.Tensor) and x.is_floating_point() and x.ndim == 2
                                  and x.shape[1] == self.width[0]):
            raise ValueError(f"cached data must be a float (n, {self.width[0]}) tensor, got "
                             f"{getattr(x, 'dtype', type(x).__name__)} {tuple(getattr(x, 'shape', ()))}")
        self.cache_data, self.cache_target = x, y

    # ------------------------------------------------------------------ grids
    def layer_inputs(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Inputs each layer sees for ``x`` ``(batch, width[0])`` (no grad)."""
        self.check_input(x)
        inputs = []
        with torch.no_grad():
            for l in range(self.depth):
                inputs.append(x)
                x = self.layer_forward(l, x)
        return inputs

    @torch.no_grad()
    def update_grid_from_samples(self, x: torch.Tensor, *,
                                 only: Optional[Callable[[int, torch.Tensor], bool]] = None) -> KANNetwork:
        """Adapt every layer's grid (or those ``l`` where ``only(l, inputs)``) to the activations
        ``x`` ``(batch, width[0])`` produces.

        Layer by layer, so each layer's new grid follows its (unchanged) input distribution; the
        model computes the same function on ``x`` up to the least-squares residual (fitted on
        every row). Under ``torch.distributed``, call it on every rank with that rank's shard:
        the shards are gathered, so all ranks get the same grids and coefficients, those of the
        whole data (see :mod:`kanlab.distributed`).

        Layers whose basis has no grid (``"chebyshev"``, ``"legendre"``, ``"fourier"``) are
        skipped when ``only`` is given (``fit``'s scheduled updates); called without ``only`` on
        a model with such a layer, it raises ``ValueError`` saying what to do instead
        (``refine`` raises their degree).
        """
        if only is None:
            for l, layer in enumerate(self.layers):
                if not layer.edge_basis.has_grid:
                    raise ValueError(
                        f"layer {l}'s basis ({self.basis_name!r}) has no grid to update from samples: it is a "
                        f"global basis of degree {layer.grid_size} on the whole input range. Use "
                        f"model.refine(new_degree) to raise its degree, or build the model with basis='bspline' "
                        f"or 'rbf' for grid updates")
        self.check_input(x, "x")
        x = distributed.gather_rows(x)
        for l, layer in enumerate(self.layers):
            if (only is None or only(l, x)) and layer.edge_basis.has_grid:
                layer.update_grid_from_samples(x)
            x = self.layer_forward(l, x)
        distributed.broadcast_state(self.layers)  # layers rebuild their plans for knots written in place
        return self

    update_grid = update_grid_from_samples

    @torch.no_grad()
    def refine(
        self,
        new_grid: Optional[int] = None,
        *,
        grid_factor: Optional[float] = None,
        x: Optional[torch.Tensor] = None,
    ) -> KANNetwork:
        """Grid extension: ``refine(new_grid)`` or ``refine(grid_factor=2)``. Returns ``self``.
        For a basis without a grid (``"chebyshev"``, ``"legendre"``, ``"fourier"``) ``new_grid`` is
        the new degree: a higher one keeps the function exactly (the coefficients are padded).

        Each layer's new grid interpolates its current one (see :meth:`KANLayer.refine`), so an
        integer ``grid_factor`` reproduces the function exactly; otherwise coefficients are the
        least-squares fit on the grid range plus the layer inputs of ``x`` (default: ``cache_data``,
        the last ``fit``'s training inputs). ``fit`` re-adapts grids to the data at its start.
        Under ``torch.distributed``, call it on every rank (each with its shard as ``x``, or all
        without): the ranks end identical; the coefficients change shape, so wrap the model in a
        new ``DistributedDataParallel`` afterwards (a warning says so).
        """
        if (new_grid is None) == (grid_factor is None):
            raise ValueError("refine needs exactly one of new_grid (int) or grid_factor (number)")
        if grid_factor is not None:
            check_real("grid_factor", grid_factor, low=0.0, low_inclusive=False)
            new_grid = max(1, int(round(self.grid * float(grid_factor))))
        check_positive_int("new_grid", new_grid)
        if x is None and self.cache_data is not None:  # the cache stays where fit left it
            x = self.cache_data.to(device=self.device, dtype=self.dtype)
        shapes = [layer.coef.shape for layer in self.layers]
        if x is None:
            for layer in self.layers:
                layer.refine(int(new_grid))
        else:
            for layer, inp in zip(self.layers, self.layer_inputs(distributed.gather_rows(x))):
                layer.refine(int(new_grid), inp)
        distributed.broadcast_state(self.layers)
        if shapes != [layer.coef.shape for layer in self.layers]:
            distributed.warn_rewrap()
        self.config["grid"] = int(new_grid)
        return self

    def compile(self, *args: Any, **kwargs: Any) -> None:
        """``torch.nn.Module.compile`` (in place: ``model(x)`` then runs compiled), with inductor
        options chosen for the layer shapes unless ``mode`` or ``options`` is given (see
        :func:`kanlab.kernels.compile_options`)."""
        if "mode" not in kwargs and "options" not in kwargs:
            kwargs["options"] = kernels.compile_options(self.width[:-1], self.device)
        super().compile(*args, **kwargs)

    def num_parameters(self, trainable_only: bool = True) -> int:
        """Parameters that shape the function: the spline layers' (``coef``, ``scale_base``,
        ``scale_spline``; only trainable ones unless ``trainable_only=False``) plus the four affine
        constants of every *active* symbolic edge (inactive slots are not counted)."""
        spline = sum(p.numel() for p in self.layers.parameters() if p.requires_grad or not trainable_only)
        return spline + 4 * sum(int(sym.active.sum()) for sym in self.symbolic)


def _check_pykan_options(**options: bool) -> None:
    """Refuse pykan constructor options kanlab cannot honour, each with what to do instead."""
    fixes = {"affine_trainable": "kanlab's nodes have no scale/bias parameters to train",
             "sparse_init": "start dense and let fit(lamb=...) and prune() sparsify"}
    for name, value in options.items():
        if value:
            raise ValueError(f"KAN({name}=True) is not supported: {fixes[name]} (pass {name}=False or omit it)")


def _sync_config(model: KANNetwork, incompatible_keys: Any) -> None:
    """After ``load_state_dict``: ``config["grid"]`` follows the grid size layer 0 adopted."""
    model.config["grid"] = model.layers[0].grid_size


def _all_finite(x: torch.Tensor) -> bool:
    """Whether every element of ``x`` is finite, by one sum where it can: a NaN or an infinity
    makes the sum non-finite, so a finite sum settles it; only a sum that overflowed (or a
    non-finite element) takes the element-wise test (5 passes over ``x`` where the sum is one:
    0.45 of the 15 ms of an eager training step of config a of ``benchmarks/speed.py``)."""
    return bool(torch.isfinite(x.sum())) or bool(torch.isfinite(x).all())


def _is_traced(x: torch.Tensor) -> bool:
    """Whether ``x`` flows through ``torch.jit.trace``, ``torch.compile``/``export`` or a
    ``torch.func`` transform (vmap, grad, jacrev: functorch-wrapped tensors), where a
    data-dependent check such as ``bool(tensor)`` would fail or be baked into the graph."""
    return (torch.compiler.is_compiling() or torch.jit.is_tracing()
            or torch._C._functorch.is_functorch_wrapped_tensor(x))


def _check_input_index(ids: torch.Tensor, n_inputs: int) -> None:
    """``ValueError`` unless ``ids`` is an integer tensor of ``n_inputs`` distinct non-negative indices."""
    if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool or ids.shape != (n_inputs,) \
            or bool((ids < 0).any()) or ids.unique().numel() != n_inputs:
        raise ValueError(f"input ids must be {n_inputs} distinct non-negative integers, got {ids.tolist()!r:.200}")


def _check_width(width: Any) -> tuple[List[int], List[int], List[Any]]:
    """Parse ``width`` into node counts, multiplication-node counts and the canonical spec.

    Every entry is an int (that many sum nodes) or a pair ``[n_sum, n_mult]`` (pykan's
    multiplication nodes). The input layer takes sum nodes only.
    """
    if isinstance(width, (str, bytes)) or not isinstance(width, Sequence):
        raise TypeError(f"width must be a list such as [2, 5, 1] or [2, [3, 2], 1], got {width!r}")
    if len(width) < 2:
        raise ValueError(f"width needs at least 2 entries (inputs and outputs), got {list(width)}")
    nodes, mult, spec = [], [], []
    for l, w in enumerate(width):
        if isinstance(w, Sequence) and not isinstance(w, (str, bytes)):
            if len(w) != 2 or any(not is_int(v) or v < 0 for v in w) \
                    or sum(w) < 1:
                raise ValueError(f"a width entry [n_sum, n_mult] needs two non-negative ints, not both 0; got {list(w)}")
            n_sum, n_mult = int(w[0]), int(w[1])
        elif not is_int(w) or w < 1:
            raise ValueError(f"every width entry must be a positive int or [n_sum, n_mult], got {list(width)}")
        else:
            n_sum, n_mult = int(w), 0
        if l == 0 and n_mult:
            raise ValueError(f"the input layer cannot have multiplication nodes, got width[0]={list(w)}")
        nodes.append(n_sum + n_mult)
        mult.append(n_mult)
        spec.append([n_sum, n_mult] if n_mult else n_sum)
    return nodes, mult, spec


def _check_arity(mult_arity: Any, mult_width: List[int]) -> List[List[int]]:
    """Per node layer, the arity of each multiplication node (see ``KAN``'s ``mult_arity``)."""
    def ok(a: Any) -> bool:
        return is_int(a) and a >= 2

    if ok(mult_arity):
        return [[int(mult_arity)] * m for m in mult_width]
    good = (isinstance(mult_arity, Sequence) and not isinstance(mult_arity, (str, bytes))
            and len(mult_arity) == len(mult_width)
            and all(isinstance(a, Sequence) and len(a) == m and all(ok(v) for v in a)
                    for a, m in zip(mult_arity, mult_width)))
    if not good:
        raise ValueError(f"mult_arity must be an int >= 2 or one list per node layer with an int >= 2 for each of "
                         f"its multiplication nodes (counts {mult_width}), got {mult_arity!r}")
    return [[int(v) for v in a] for a in mult_arity]


def _alias(name: str, value: Any, alias: str, alias_value: Any, default: int) -> int:
    if value is not None and alias_value is not None and value != alias_value:
        raise ValueError(f"{name}={value} and {alias}={alias_value} disagree; give only one")
    chosen = value if value is not None else alias_value
    chosen = default if chosen is None else chosen
    check_positive_int(name, chosen)
    return int(chosen)
