"""A budgeted supervised training loop for any ``nn.Module`` on tensors (KANs and MLPs alike).

:func:`kanlab.train.fit` is pykan's ``fit`` for a KAN on a dataset dict. This module is the loop
underneath the scikit-learn estimators (:mod:`kanlab.estimators`) and ``kanlab compare``
(:mod:`kanlab.compare`), which need things ``fit`` does not offer: the same loop for a KAN and an
MLP (a fair comparison), a wall-time budget, per-sample weights, early stopping on a monitored
value with the best state restored, and full determinism from one seed (mini-batches come from a
private ``torch.Generator``; torch's global RNG is never touched).

It also does small data chores shared by both callers: :class:`Standardizer` (per-column
``(x - mean) / scale``).
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, List, Optional

import torch
from torch import nn

from .optim import OPTIMIZERS, accepted_finite, make_optimizer
from .train import clone_state

__all__ = ["Standardizer", "TrainResult", "train_module", "OPTIMIZERS", "default_lr", "grid_update_hook"]


# loss_fn(model, x (batch, in), y (batch, ...), w (batch,) or None) -> scalar tensor
LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor, Optional[torch.Tensor]], torch.Tensor]


class Standardizer:
    """Per-column ``(x - mean) / scale`` learned from ``x`` ``(n, d)``; constant columns get scale 1."""

    def __init__(self, x: torch.Tensor) -> None:
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValueError(f"Standardizer needs a non-empty (n, d) tensor, got shape {tuple(x.shape)}")
        self.mean = x.mean(0)
        scale = x.std(0, unbiased=False) if x.shape[0] > 1 else torch.ones_like(self.mean)
        self.scale = torch.where(scale > 1e-12 * (1.0 + self.mean.abs()), scale, torch.ones_like(scale))

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, d) -> (n, d)`` standardised."""
        return (x - self.mean) / self.scale

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        """``(n, d) -> (n, d)`` back to the original units."""
        return z * self.scale + self.mean


@dataclass
class TrainResult:
    """What :func:`train_module` did.

    ``loss_curve``: the training objective per step, evaluated before the step's update (on the
    step's mini-batch for mini-batch steps).
    ``monitor_curve``: the monitored value each time it was evaluated, at steps ``monitor_steps``
    and cumulative training seconds ``monitor_seconds`` (evaluation time is not counted).
    ``best_step``: the step whose state the model holds at the end (with ``restore_best``).
    ``stop_reason``: "steps", "time", "no_change" or "nan".
    """

    n_iter: int = 0
    seconds: float = 0.0
    loss_curve: List[float] = field(default_factory=list)
    monitor_curve: List[float] = field(default_factory=list)
    monitor_steps: List[int] = field(default_factory=list)
    monitor_seconds: List[float] = field(default_factory=list)
    best_step: int = 0
    stop_reason: str = "steps"


GRID_UPDATE_STEPS = range(0, 50, 5)  # pykan's default schedule: 10 grid updates in the first 50 steps
GRID_UPDATE_ROWS = 4096  # at most this many training rows (evenly spaced) are used for a grid update


def default_lr(opt: str) -> float:
    """The learning rate used when none is given: 1 for LBFGS, 1e-2 for Adam and AdamW."""
    return 1.0 if opt == "LBFGS" else 1e-2


def grid_update_hook(model: nn.Module, x: torch.Tensor) -> Callable[[int, torch.Tensor], None]:
    """A ``before_step`` for :func:`train_module` that adapts a KAN's grids to ``x`` ``(n, in)``
    (at most ``GRID_UPDATE_ROWS`` evenly spaced rows) on pykan's schedule, ``GRID_UPDATE_STEPS``."""
    rows = x[torch.linspace(0, x.shape[0] - 1, min(x.shape[0], GRID_UPDATE_ROWS), device=x.device).long()]

    def before_step(step: int, xb: torch.Tensor) -> None:
        if step in GRID_UPDATE_STEPS:
            model.update_grid_from_samples(rows)

    return before_step


def train_module(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: LossFn,
    *,
    weights: Optional[torch.Tensor] = None,
    opt: str = "Adam",
    lr: float = 1e-2,
    steps: int = 100,
    seconds: Optional[float] = None,
    batch_size: Optional[int] = None,
    seed: int = 0,
    monitor: Optional[Callable[[], float]] = None,
    monitor_every: int = 1,
    n_iter_no_change: Optional[int] = None,
    tol: float = 1e-4,
    restore_best: bool = False,
    before_step: Optional[Callable[[int, torch.Tensor], None]] = None,
    verbose: int = 0,
) -> TrainResult:
    """Train ``model`` on ``x`` ``(n, in)``, ``y`` ``(n, ...)`` for ``steps`` optimiser steps or
    until ``seconds`` of training time have passed, whichever comes first.

    Args:
        loss_fn: ``loss_fn(model, xb, yb, wb)`` returns the scalar objective of a batch; ``wb`` is
            the batch's slice of ``weights`` ``(n,)`` (``None`` when no weights are given).
        opt, lr: see :func:`make_optimizer`. LBFGS always uses the full batch.
        batch_size: rows per Adam step (``None`` or ``>= n``: full batch), drawn without
            replacement, a new permutation per epoch, from a generator seeded with ``seed``.
        monitor: zero-argument callable (lower is better, e.g. a validation loss), evaluated
            under ``torch.no_grad`` every ``monitor_every`` steps. Without one, the training loss
            is watched instead.
        n_iter_no_change, tol: stop once the watched value (the latest monitored value, or the
            epoch's mean training loss) has not dropped below its best minus ``tol`` for
            ``n_iter_no_change`` consecutive epochs (``None``: never). An epoch is one step with
            the full batch, ``ceil(n / batch_size)`` steps with mini-batches: single mini-batch
            losses are too noisy to judge progress by.
        restore_best: end in the state with the best monitored value (needs ``monitor``).
        before_step: ``before_step(step, xb)`` runs before each step (e.g. grid updates).
        verbose: print the losses every ``verbose`` steps (0: silent).

    A step whose loss or parameters turn NaN/Inf is rolled back and training stops with a
    ``RuntimeWarning`` (``stop_reason == "nan"``). Returns a :class:`TrainResult`.
    """
    if opt not in OPTIMIZERS:
        raise ValueError(f"opt must be one of {OPTIMIZERS}, got {opt!r}")
    n = x.shape[0]
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, opt, lr)
    full_batch = opt == "LBFGS" or batch_size is None or batch_size >= n
    per_epoch = 1 if full_batch else -(-n // batch_size)  # steps per epoch
    epoch_losses: List[float] = []
    value = math.inf
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    order, cursor = torch.empty(0, dtype=torch.long), 0
    result = TrainResult()
    best_value, best_state, since_best = math.inf, None, 0
    snapshot, previous = clone_state(model), None  # the states before this step and before the last one
    model.train()
    for step in range(steps):
        if seconds is not None and result.seconds >= seconds:
            result.stop_reason = "time"
            break
        start = time.perf_counter()
        if full_batch:
            xb, yb, wb = x, y, weights
        else:
            if cursor + batch_size > order.numel():
                order, cursor = torch.randperm(n, generator=gen), 0
            idx = order[cursor: cursor + batch_size].to(x.device)
            cursor += batch_size
            xb, yb, wb = x[idx], y[idx], None if weights is None else weights[idx]
        if before_step is not None:
            before_step(step, xb)

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = loss_fn(model, xb, yb, wb)
            loss.backward()
            return loss

        loss = float(optimizer.step(closure).detach())
        if not (math.isfinite(loss) and accepted_finite(optimizer) and all(bool(torch.isfinite(p).all()) for p in params)):
            # ``loss`` is the objective *before* this step: non-finite there, the last step made it
            model.load_state_dict(snapshot if math.isfinite(loss) or previous is None else previous)
            warnings.warn(f"training stopped at step {step}: the loss or the parameters became NaN/Inf; "
                          "the model was restored to the previous step. Try a smaller lr.", RuntimeWarning,
                          stacklevel=2)
            result.stop_reason = "nan"
            break
        previous, snapshot = snapshot, clone_state(model)
        result.seconds += time.perf_counter() - start
        result.n_iter = step + 1
        result.loss_curve.append(loss)
        if verbose and step % verbose == 0:
            print(f"step {step:>5}  loss {loss:.4e}  time {result.seconds:.2f}s")
        epoch_losses.append(loss)
        if monitor is not None and (step % monitor_every == 0 or step == steps - 1):
            model.eval()
            with torch.no_grad():
                value = float(monitor())
            model.train()
            result.monitor_curve.append(value)
            result.monitor_steps.append(step + 1)
            result.monitor_seconds.append(result.seconds)
        if (step + 1) % per_epoch and step != steps - 1:
            continue  # patience is judged per epoch, not per mini-batch
        if monitor is None:
            value = sum(epoch_losses) / len(epoch_losses)
        epoch_losses.clear()
        if value < best_value - tol:
            since_best = 0
        else:
            since_best += 1
        if value < best_value:
            best_value, result.best_step = value, step + 1
            if restore_best:
                best_state = snapshot
        if n_iter_no_change is not None and since_best >= n_iter_no_change:
            result.stop_reason = "no_change"
            break
    if restore_best and best_state is not None:
        model.load_state_dict(best_state)
    else:
        result.best_step = result.n_iter
    model.eval()
    return result
