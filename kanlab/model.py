"""``KAN``: the facade users meet. A stack of :class:`~kanlab.layer.KANLayer` with pykan's API.

Both construction styles work::

    model = KAN(width=[2, 5, 1], grid=3, k=3, seed=0)   # pykan style
    model = KAN([784, 64, 10])                          # efficient-kan style: a plain nn.Module

Training (:mod:`kanlab.train`), checkpoints (:mod:`kanlab.checkpoint`), symbolic edges
(:mod:`kanlab.symbolic`, :mod:`kanlab.formula`), attribution and pruning (:mod:`kanlab.prune`) and
plots (:mod:`kanlab.plot`) live in their own modules; the methods here only delegate.
"""
from __future__ import annotations

import numbers
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import torch
from torch import nn

from .edges import ActFun
from . import distributed, kernels
from .layer import BaseFun, KANLayer, _check_positive_int
from .symbolic import SymbolicLayer

Device = Union[str, torch.device, None]


class KAN(nn.Module):
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
        grid: grid intervals per edge (alias ``grid_size``). Default 5.
        k: spline order (alias ``spline_order``). Default 3 (cubic).
        seed: integer seed for the initialisation; ``None`` draws from torch's global RNG.
        base_fun: residual function: 'silu' (default), 'identity', 'zero' or a callable.
        noise_scale: scale of the initial spline coefficients (splines start near 0).
        scale_base_mu, scale_base_sigma: ``scale_base ~ (mu + sigma * U(-1,1)) / sqrt(fan_in)``,
            i.e. Kaiming-uniform-like, which is what makes deep/wide KANs train with Adam.
        scale_sp: initial spline scale (times ``1 / sqrt(fan_in)``).
        grid_eps: grid update blend: 1 = uniform over the data, 0 = data quantiles.
        grid_range: initial grid range ``(lo, hi)``; inputs outside get only the base term
            (after the ``k`` extension intervals the spline part is exactly 0).
        sp_trainable, sb_trainable: train ``scale_spline`` / ``scale_base``.
        fast: use the fast path (default; see :mod:`kanlab.kernels`); ``False`` runs the plain
            reference path. ``contraction``: the fast path's formulation, ``"auto"`` (by grid
            size), ``"dense"`` or ``"sparse"``.
        device, dtype: where and in which float type parameters live.

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
        scale_base_mu: float = 0.0,
        scale_base_sigma: float = 1.0,
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
    ) -> None:
        super().__init__()
        self.width, self.mult_width, spec = _check_width(width)
        self.mult_arity = _check_arity(mult_arity, self.mult_width)
        if isinstance(grid_range, (str, bytes)) or not isinstance(grid_range, Sequence) or len(grid_range) != 2:
            raise ValueError(f"grid_range must be a pair (lo, hi), got {grid_range!r}")
        grid = _alias("grid", grid, "grid_size", grid_size, default=5)
        k = _alias("k", k, "spline_order", spline_order, default=3)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise TypeError(f"seed must be an int or None, got {seed!r}")
        if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise TypeError(f"dtype must be a floating point dtype, got {dtype}")
        generator = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        self.config: Dict[str, Any] = dict(
            width=spec, mult_arity=[list(a) for a in self.mult_arity], grid=grid, k=k, seed=seed,
            base_fun=base_fun if isinstance(base_fun, str) else "custom",
            noise_scale=noise_scale, scale_base_mu=scale_base_mu, scale_base_sigma=scale_base_sigma,
            scale_sp=scale_sp, grid_eps=grid_eps, grid_range=[float(v) for v in grid_range],
            sp_trainable=sp_trainable, sb_trainable=sb_trainable, fast=bool(fast), contraction=contraction,
        )
        self.layers = nn.ModuleList(
            KANLayer(
                self.width[i], self.n_sub(i + 1), grid, k,
                grid_range=grid_range, grid_eps=grid_eps, noise_scale=noise_scale,
                scale_base_mu=scale_base_mu, scale_base_sigma=scale_base_sigma,
                scale_spline=scale_sp, base_fun=base_fun, sp_trainable=sp_trainable,
                sb_trainable=sb_trainable, generator=generator, fast=fast, contraction=contraction,
                device=device, dtype=dtype,
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
        self.cache_data: Optional[torch.Tensor] = None
        self.cache_target: Optional[torch.Tensor] = None

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
    def device(self) -> torch.device:
        return self.layers[0].coef.device

    @property
    def dtype(self) -> torch.dtype:
        return self.layers[0].coef.dtype

    def extra_repr(self) -> str:
        return f"width={self.config['width']}, grid={self.grid}, k={self.k}"

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
            raise TypeError(
                f"{name} has dtype {x.dtype} but the model is {self.dtype}; "
                f"convert with x.to({self.dtype}) or the model with .to({x.dtype})"
            )
        if not _is_traced(x) and not bool(torch.isfinite(x).all()):
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(*, width[0]) -> (*, width[-1])`` like ``nn.Linear``: ``(batch, width[0])``, ``(B, T,
        width[0])`` or a single ``(width[0],)`` sample. The layers run on ``(prod(*), width[0])``."""
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

    # ------------------------------------------------------------------ grids
    def _layer_inputs(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Inputs each layer sees for ``x`` ``(batch, width[0])`` (no grad)."""
        self.check_input(x)
        inputs = []
        with torch.no_grad():
            for l in range(self.depth):
                inputs.append(x)
                x = self.layer_forward(l, x)
        return inputs

    @torch.no_grad()
    def update_grid_from_samples(self, x: torch.Tensor) -> "KAN":
        """Adapt every layer's grid to the activations ``x`` ``(batch, width[0])`` produces.

        Layer by layer, so each layer's new grid follows its (unchanged) input distribution; the
        model computes the same function on ``x`` up to the least-squares residual (fitted on
        every row). Under ``torch.distributed``, call it on every rank with that rank's shard:
        the shards are gathered, so all ranks get the same grids and coefficients, those of the
        whole data (see :mod:`kanlab.distributed`).
        """
        self.check_input(x, "x")
        x = distributed.gather_rows(x)
        for l, layer in enumerate(self.layers):
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
    ) -> "KAN":
        """Grid extension: ``refine(new_grid)`` or ``refine(grid_factor=2)``. Returns ``self``.

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
            if isinstance(grid_factor, bool) or not isinstance(grid_factor, numbers.Real) or grid_factor <= 0:
                raise ValueError(f"grid_factor must be a positive number, got {grid_factor!r}")
            new_grid = max(1, int(round(self.grid * float(grid_factor))))
        _check_positive_int("new_grid", new_grid)
        if x is None and self.cache_data is not None:  # the cache stays where fit left it
            x = self.cache_data.to(device=self.device, dtype=self.dtype)
        shapes = [layer.coef.shape for layer in self.layers]
        if x is None:
            for layer in self.layers:
                layer.refine(int(new_grid))
        else:
            for layer, inp in zip(self.layers, self._layer_inputs(distributed.gather_rows(x))):
                layer.refine(int(new_grid), inp)
        distributed.broadcast_state(self.layers)
        if shapes != [layer.coef.shape for layer in self.layers]:
            distributed.warn_rewrap()
        self.config["grid"] = int(new_grid)
        return self

    # ------------------------------------------------------------------ training
    def fit(self, dataset: Dict[str, torch.Tensor], **kwargs: Any) -> Dict[str, list]:
        """Train on a pykan-style dataset dict; see :func:`kanlab.train.fit` for the options."""
        from .train import fit

        return fit(self, dataset, **kwargs)

    def speed(self) -> "KAN":
        """pykan compatibility; returns ``self``. A no-op: the spline path is already the fast one
        and symbolic edges cost nothing until some are fixed (they keep working after this)."""
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

    # ------------------------------------------------------------------ checkpoints
    def saveckpt(self, path: str) -> None:
        """Save config, state and cached data to one file, atomically (see :mod:`kanlab.checkpoint`)."""
        from .checkpoint import save_checkpoint

        save_checkpoint(self, path)

    @classmethod
    def loadckpt(cls, path: str, base_fun: Optional[Callable] = None, map_location: Device = None) -> "KAN":
        """Load a model written by :meth:`saveckpt` (never unpickles arbitrary objects)."""
        from .checkpoint import load_checkpoint

        return load_checkpoint(path, base_fun=base_fun, map_location=map_location)

    # ------------------------------------------------------------------ edges and symbolic (kanlab.symbolic)
    @property
    def act_fun(self) -> ActFun:
        """Edge functions: ``act_fun[l][j][:, i:i+1](x)`` maps ``x (n, 1)`` to edge ``i -> j``'s ``(n, 1)``."""
        return ActFun(self)

    def get_fun(self, l: int, i: int, j: int, n: int = 200) -> tuple:
        """``(x (n,), y (n,))`` samples of edge ``i -> j`` of layer ``l`` over its observed input range."""
        from .edges import get_fun

        return get_fun(self, l, i, j, n)

    def suggest_symbolic(self, l: Optional[int] = None, i: Optional[int] = None, j: Optional[int] = None,
                         lib: Optional[Sequence[str]] = None, topk: int = 5, weight_simple: float = 0.8,
                         verbose: bool = True) -> Any:
        """Best library functions for edge ``i -> j`` of layer ``l`` (pykan's tuple
        ``(name, function, r2, complexity)``), or with no edge given a table (list of dicts) for
        every active spline edge. See :mod:`kanlab.symbolic`."""
        from . import symbolic

        if l is None and i is None and j is None:
            return symbolic.suggest_all(self, lib, weight_simple, verbose)
        if l is None or i is None or j is None:
            raise ValueError("give all of l, i, j (one edge) or none of them (every edge)")
        return symbolic.suggest_symbolic(self, l, i, j, lib, topk, weight_simple, verbose)

    def fix_symbolic(self, l: int, i: int, j: int, fun_name: str, fit_params_bool: bool = True,
                     verbose: bool = True) -> float:
        """Make edge ``i -> j`` of layer ``l`` the symbolic ``c*f(a*x+b)+d``; returns the fit's R^2."""
        from .symbolic import fix_symbolic

        return fix_symbolic(self, l, i, j, fun_name, fit_params=fit_params_bool, verbose=verbose)

    def unfix_symbolic(self, l: int, i: int, j: int) -> "KAN":
        """Turn edge ``i -> j`` of layer ``l`` back into its spline. Returns ``self``."""
        from .symbolic import unfix_symbolic

        unfix_symbolic(self, l, i, j)
        return self

    def auto_symbolic(self, lib: Optional[Sequence[str]] = None, r2_threshold: float = 0.0,
                      weight_simple: float = 0.8, verbose: bool = True, layers: Optional[Sequence[int]] = None) -> list:
        """Snap every active spline edge (of ``layers``, default all) to its best library function
        (see :func:`kanlab.symbolic.auto_symbolic`)."""
        from .symbolic import auto_symbolic

        return auto_symbolic(self, lib, r2_threshold, weight_simple, verbose=verbose, layers=layers)

    def symbolic_formula(self, var: Optional[Sequence[str]] = None, ex_round: Optional[int] = 4,
                         simplify: bool = True, zero_below: Optional[float] = None,
                         simplify_timeout: Optional[float] = 10.0) -> Any:
        """Sympy formulas per output (see :func:`kanlab.formula.symbolic_formula`)."""
        from .formula import symbolic_formula

        return symbolic_formula(self, var, ex_round, simplify, zero_below, simplify_timeout)

    # ------------------------------------------------------------------ attribution and pruning (kanlab.prune)
    def attribute(self, x: Optional[torch.Tensor] = None) -> Dict[str, list]:
        """KAN 2.0 backward attribution on ``x`` (default ``cache_data``); sets ``node_scores``,
        ``edge_scores`` and ``feature_score`` and returns them (see :func:`kanlab.prune.attribute`)."""
        from .prune import attribute

        return attribute(self, x)

    @property
    def feature_score(self) -> torch.Tensor:
        """Input importance ``(width[0],)`` from :meth:`attribute` (computed on first use from the
        last fit's inputs). ``AttributeError`` before there are scores or data to compute them, so
        ``hasattr(model, "feature_score")`` is ``False`` on an untrained model."""
        if getattr(self, "_scores", None) is None:
            if self.cache_data is None:
                raise AttributeError(_NO_FEATURE_SCORE)
            self.attribute()
        return self._scores["node_scores"][0]

    def __getattr__(self, name: str) -> Any:
        # nn.Module.__getattr__ runs when a property raises AttributeError and would replace its
        # message with "'KAN' object has no attribute ..."; keep feature_score's explanation
        if name == "feature_score":
            raise AttributeError(_NO_FEATURE_SCORE)
        return super().__getattr__(name)

    def prune(self, node_th: float = 1e-2, edge_th: float = 3e-2) -> "KAN":
        """A smaller copy without unimportant hidden nodes, then with unimportant edges masked."""
        from .prune import prune

        return prune(self, node_th, edge_th)

    def prune_node(self, threshold: float = 1e-2, active_neurons_id: Optional[List[List[int]]] = None) -> "KAN":
        """A smaller copy keeping hidden nodes scoring above ``threshold`` (or the listed ones)."""
        from .prune import prune_node

        return prune_node(self, threshold, active_neurons_id)

    def prune_edge(self, threshold: float = 3e-2) -> "KAN":
        """Mask edges scoring below ``threshold`` (in place). Returns ``self``."""
        from .prune import prune_edge

        return prune_edge(self, threshold)

    def prune_input(self, threshold: float = 1e-2, active_inputs: Optional[Sequence[int]] = None) -> "KAN":
        """A smaller copy keeping inputs scoring above ``threshold`` (or the listed ones)."""
        from .prune import prune_input

        return prune_input(self, threshold, active_inputs)

    def remove_edge(self, l: int, i: int, j: int) -> "KAN":
        """Switch edge ``i -> j`` of layer ``l`` off (spline and symbolic). Returns ``self``."""
        from .prune import remove_edge

        return remove_edge(self, l, i, j)

    def remove_node(self, l: int, i: int) -> "KAN":
        """Switch every edge into and out of node ``i`` of layer ``l`` (0 = inputs) off. Returns ``self``."""
        from .prune import remove_node

        return remove_node(self, l, i)

    # ------------------------------------------------------------------ plots (kanlab.plot)
    def plot(self, beta: float = 3, metric: str = "backward", scale: float = 0.5, folder: Optional[str] = None,
             in_vars: Optional[Sequence[str]] = None, out_vars: Optional[Sequence[str]] = None,
             title: Optional[str] = None, sample: bool = False, tick: bool = False) -> Any:
        """Draw the KAN diagram (see :func:`kanlab.plot.plot_kan`); returns the figure, now current."""
        from .plot import plot_kan

        return plot_kan(self, beta=beta, metric=metric, scale=scale, folder=folder, in_vars=in_vars,
                        out_vars=out_vars, title=title, sample=sample, tick=tick)

    def plot_activations(self, l: int = 0, **kwargs: Any) -> Any:
        """Every edge of layer ``l`` on its own axes, data range shaded (see :mod:`kanlab.plot`)."""
        from .plot import plot_activations

        return plot_activations(self, l, **kwargs)

    @staticmethod
    def plot_history(results: Dict[str, list], **kwargs: Any) -> Any:
        """Loss curves of a ``fit`` result (see :func:`kanlab.plot.plot_history`)."""
        from .plot import plot_history

        return plot_history(results, **kwargs)


_NO_FEATURE_SCORE = ("feature_score is not computed yet and there is no cached data to compute it from: "
                     "call model.attribute(x) or fit first")


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
            if len(w) != 2 or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0 for v in w) \
                    or sum(w) < 1:
                raise ValueError(f"a width entry [n_sum, n_mult] needs two non-negative ints, not both 0; got {list(w)}")
            n_sum, n_mult = int(w[0]), int(w[1])
        elif isinstance(w, bool) or not isinstance(w, numbers.Integral) or w < 1:
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
        return not isinstance(a, bool) and isinstance(a, numbers.Integral) and a >= 2

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
    _check_positive_int(name, chosen)
    return int(chosen)
