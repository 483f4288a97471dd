"""A small network's whole mean-squared-error closure in one compiled pass (issue 15).

``fit``'s LBFGS evaluates loss and gradient of a small network (the mission's ``[2, 5, 1]``)
some two thousand times; eagerly each evaluation is some forty tensor operations, a custom
autograd Function per layer and the autograd engine's walk, each a few microseconds on a few
thousand numbers. Where the network is plain -- B-spline layers on the fast path with a SiLU,
identity or no base, no symbolic edges, no hooks, sum or multiplication nodes -- and the objective
is the default mean squared error (with or without the default sparsity regulariser),
the loss, the regulariser and every layer's parameter gradients come from one C loop
(:func:`kanlab.native.mse`, the chain rule through the edge masks included): :func:`accumulate`
(what ``fit`` runs) adds them into the parameters' ``.grad`` as ``backward`` would, and
:func:`objective` returns the same as a tensor differentiable through one autograd Function of
the parameters (``coef``, ``scale_spline``, ``scale_base``). Either way the parameters get what
the eager graph would give them, to rounding. :func:`accumulate` also hands back the prepared
call: ``fit``'s training loop passes it to :class:`kanlab.optim.LBFGS`, which then runs the rest
of the step (line search and two-loop recursion included) in C. Everywhere else (no compiler,
``KANLAB_NATIVE=0``, CUDA, float16, ``torch.compile``, graphs of the gradient, networks beyond the
sizes below) they return ``None`` and the caller runs the eager path. ``python -m benchmarks.workflow`` times an
evaluation both ways.
"""
from __future__ import annotations

from typing import Any, List, NamedTuple, Optional, Tuple

import torch

from . import native
from .bases import BSplineBasis
from .layer import KANLayer
from .network import KANNetwork

__all__ = ["objective", "accumulate", "Accumulated", "mse_value", "mse_loss", "MAX_EDGE_POINTS", "MAX_LAYER_EDGES"]

#: The compiled pass is a scalar loop on one thread; the eager path's products are blocked and
#: vectorised. One loss-and-gradient evaluation, adapted grids, G = 5, this 2-core machine (the
#: same at 1 and 2 threads): ``[4, 8, 1]`` on 20000 rows 7.6 vs 16.5 ms eager, ``[8, 16, 1]`` on
#: 8000 rows 8.5 vs 13.3 ms, ``[16, 32, 1]`` on 2000 rows 7.1 vs 7.1 ms, ``[4, 8, 1]`` on 60000
#: rows (2.4M point-edges) 55 vs 53 ms. Beyond these sizes the eager path runs: at most this many
#: (point, edge) pairs per evaluation ...
MAX_EDGE_POINTS = 1 << 21
#: ... and at most this many edges in any one layer (``in * out``, by node counts)
MAX_LAYER_EDGES = 256


def _plain(model: KANNetwork) -> bool:
    """Whether the model's forward is exactly the stack of spline layers the C loop computes."""
    if (type(model).forward is not KANNetwork.forward or type(model).layer_forward is not KANNetwork.layer_forward
            or type(model).nodes is not KANNetwork.nodes or model.depth > native.MAX_LAYERS):
        return False
    for module in (model, *model.layers):
        if module._forward_hooks or module._forward_pre_hooks or module._backward_hooks:
            return False
    if torch.nn.modules.module._global_forward_hooks or torch.nn.modules.module._global_forward_pre_hooks:
        return False
    return all(type(layer) is KANLayer and layer.fast and type(layer.edge_basis) is BSplineBasis
               and (layer._base.zero or layer._base.name in native.BASE_CODES) and not sym.n_active
               for layer, sym in zip(model.layers, model.symbolic))


def _layers(model: KANNetwork) -> List[native.SplineLayer]:
    specs = []
    for l, layer in enumerate(model.layers):
        plan, base = layer.edge_basis.plan, layer._base
        specs.append(native.SplineLayer(*plan.native_tables(layer.coef.dtype), not plan.cardinal, plan.k, layer.coef,
                                        layer.scale_spline, None if base.zero else layer.scale_base, layer.mask,
                                        None if base.zero else base.name, tuple(model.mult_arity[l + 1])))
    return specs


def _specs(model: KANNetwork, x: torch.Tensor, y: torch.Tensor, lamb: float,
           gradients: bool = True) -> Optional[List[native.SplineLayer]]:
    """The layers for the compiled pass, or ``None`` where it does not apply."""
    if (not native.applies(x) or x.dtype != model.dtype or y.dtype != x.dtype or y.device != x.device
            or x.shape[1] != model.width[0] or y.shape != (x.shape[0], model.width[-1]) or x.shape[0] == 0
            or y.requires_grad or torch.is_autocast_enabled("cpu") or (gradients and not torch.is_grad_enabled())
            or lamb < 0):
        return None
    edges = [a * b for a, b in zip(model.width[:-1], model.width[1:])]
    if x.shape[0] * sum(edges) > MAX_EDGE_POINTS or max(edges) > MAX_LAYER_EDGES or not _plain(model):
        return None
    return _layers(model)


def _run(model: KANNetwork, specs: List[native.SplineLayer], x: torch.Tensor, y: torch.Tensor, lamb: float,
         lamb_l1: float, lamb_entropy: float) -> Tuple[native.MSECall, list]:
    """The compiled pass, run once: its call (holding the data loss and ``R``) and per parameter
    (``coef``, ``scale_spline``, ``scale_base`` per layer; ``None`` for a missing base) its gradient
    of ``loss + lamb * R``.

    The first layer's local values depend only on ``x`` and its grid: a full-batch fit evaluates
    the same training inputs ~20 times per LBFGS step, so they are kept on the layer's plan for
    the next call on the same memory, unchanged (its version counter; holding ``x`` keeps its
    storage alive, so no other tensor can reuse the address); a grid change makes a new plan."""
    plan, spec = model.layers[0].edge_basis.plan, specs[0]
    key = (x.data_ptr(), x.shape, x.stride(), x.dtype, x._version, spec.base, spec.k)
    kept = plan.kept_native
    if kept is not None and kept[1] == key:
        keep = (kept[2], kept[3], True)
    else:
        keep = native.keep_buffers(x, spec.k)
    call = native.prepare_mse(x, y, specs, lamb, lamb_l1, lamb_entropy, keep)
    call.run()
    if not keep[2] and not x.is_inference():  # filled now (no version counter on inference tensors)
        plan.kept_native = (x, key, keep[0], keep[1])
    return call, [g for triple in call.grads for g in triple]


def _params(specs: List[native.SplineLayer]) -> List[Optional[torch.Tensor]]:
    return [t for s in specs for t in (s.coef, s.scale_spline, s.scale_base)]


class _Attach(torch.autograd.Function):
    """``value`` as a function of ``params`` whose gradients the compiled pass already computed
    (``grads``); backward scales them (the value is a scalar)."""

    @staticmethod
    def forward(ctx: Any, value: torch.Tensor, grads: list, *params: Optional[torch.Tensor]) -> torch.Tensor:
        ctx.grads = grads
        return value

    @staticmethod
    def backward(ctx: Any, g_value: torch.Tensor) -> tuple:
        needs = ctx.needs_input_grad[2:]
        one = g_value.device.type == "cpu" and g_value.item() == 1.0  # value.backward(): the gradients as they are
        scaled = [(g if one else g * g_value) if g is not None and need else None for g, need in zip(ctx.grads, needs)]
        return (None, None, *scaled)


def objective(model: KANNetwork, x: torch.Tensor, y: torch.Tensor, lamb: float = 0.0, lamb_l1: float = 1.0,
              lamb_entropy: float = 2.0) -> Optional[Tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """``fit``'s objective ``torch.mean((model(x) - y) ** 2) + lamb * R`` by the compiled loop,
    ``R`` the default regulariser (:func:`kanlab.regularizers.forward_with_reg` with
    ``"edge_forward_mean"``, no coefficient terms): ``(objective, loss, R)``, the first
    differentiable in the model's parameters (first order), the others detached; ``None`` where
    the loop does not apply (see the module docstring). ``x`` ``(batch, width[0])`` and ``y``
    ``(batch, width[-1])`` are taken as checked (``fit`` validates its data once): no finiteness
    check per call."""
    specs = _specs(model, x, y, lamb)
    if specs is None:
        return None
    call, grads = _run(model, specs, x, y, lamb, lamb_l1, lamb_entropy)
    return _Attach.apply(call.loss + lamb * call.reg, grads, *_params(specs)), call.loss, call.reg


class Accumulated(NamedTuple):
    """What :func:`accumulate` returns: the objective, the data loss and ``R`` (0-d, detached),
    and the prepared compiled call (:class:`kanlab.native.MSECall`: ``fit``'s LBFGS runs its
    whole step on it, :func:`kanlab.native.lbfgs`; its ``loss`` and ``reg`` are the tensors
    returned here, so after such a step they hold the step's last evaluation)."""

    value: torch.Tensor
    loss: torch.Tensor
    reg: torch.Tensor
    program: native.MSECall


def accumulate(model: KANNetwork, x: torch.Tensor, y: torch.Tensor, lamb: float = 0.0, lamb_l1: float = 1.0,
               lamb_entropy: float = 2.0) -> Optional[Accumulated]:
    """:func:`objective` with its gradients added straight into the trainable parameters' ``.grad``
    (what ``objective(...)[0].backward()`` does, without the autograd engine's ~0.1 ms per call):
    :class:`Accumulated`, or ``None`` (nothing written) where the compiled pass does not apply or
    a parameter has gradient hooks (autograd must run them)."""
    specs = _specs(model, x, y, lamb)
    params = [] if specs is None else _params(specs)
    if specs is None or any(p is not None and (p._backward_hooks or getattr(p, "_post_accumulate_grad_hooks", None))
                            for p in params):
        return None
    call, grads = _run(model, specs, x, y, lamb, lamb_l1, lamb_entropy)
    for param, grad in zip(params, grads):
        if param is not None and param.requires_grad:
            if param.grad is None:
                param.grad = grad
            else:
                param.grad.add_(grad)
    return Accumulated(call.loss + lamb * call.reg, call.loss, call.reg, call)


def mse_value(model: KANNetwork, x: torch.Tensor, y: torch.Tensor) -> Optional[torch.Tensor]:
    """``torch.mean((model(x) - y) ** 2)`` as a constant (0-d, no graph) by the compiled loop's
    forward alone (``fit``'s per-step test loss), or ``None`` where the loop does not apply."""
    specs = _specs(model, x, y, 0.0, gradients=False)
    if specs is None:
        return None
    call = native.prepare_mse(x, y, specs, gradients=False)
    call.run()
    return call.loss


def mse_loss(model: KANNetwork, x: torch.Tensor, y: torch.Tensor) -> Optional[torch.Tensor]:
    """:func:`objective` without the regulariser: ``torch.mean((model(x) - y) ** 2)`` or ``None``."""
    out = objective(model, x, y)
    return None if out is None else out[0]
