"""The training loop: every kanlab training path (``fit``, the estimators, ``compare``, the PDE
solver, the benchmarks) runs its optimiser steps through :func:`train_loop`.

One step: pick the batch (the full data, or the next seeded mini-batch), run the ``before_step``
hooks (grid updates), keep a copy of the state, let the optimiser minimise ``objective(*batch)``
(LBFGS calls it several times), check that the loss and the parameters are finite (else roll back
and stop), record, step the LR scheduler, evaluate the monitor and judge early stopping per epoch.
The model's parameters are the only state it changes; torch's global RNG is never touched.
"""
from __future__ import annotations

import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler
from tqdm.auto import tqdm

from .distributed import is_main, reduce_gradients
from .optim import OPTIMIZERS, accepted_finite, make_optimizer
from .validation import check_int, check_optional_int, check_optional_real, check_real, user_stacklevel

__all__ = ["train_loop", "TrainResult", "Evaluated", "seeded_batches", "clone_state", "default_lr"]

Batch = Tuple[torch.Tensor, ...]
# before_step(step, batch): runs before the step's state copy (so a rollback keeps its effect)
Hook = Callable[[int, Batch], None]
SchedulerLike = Union[LRScheduler, Callable[[Optimizer], LRScheduler]]


@dataclass
class TrainResult:
    """What :func:`train_loop` did.

    ``loss_curve``: the objective per step, evaluated before the step's update (on the step's
    mini-batch for mini-batch steps). ``seconds``: time spent in steps (batches, hooks, optimiser;
    not the monitor, ``on_step`` or the progress bar). ``monitor_curve``: the monitored value each
    time it was evaluated, at steps ``monitor_steps`` and training seconds ``monitor_seconds``.
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


def default_lr(opt: str) -> float:
    """The learning rate used when none is given: 1 for LBFGS, 1e-2 for Adam and AdamW."""
    return 1.0 if opt == "LBFGS" else 1e-2


def clone_state(model: nn.Module) -> Dict[str, torch.Tensor]:
    """A detached copy of ``model.state_dict()`` to roll back to."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def seeded_batches(n: int, batch_size: int, seed: int) -> Iterator[torch.Tensor]:
    """Row indices ``(batch_size,)`` (CPU, int64), forever: each epoch a permutation of
    ``range(n)`` from a private generator seeded with ``seed``, cut into ``ceil(n / batch_size)``
    consecutive batches (the last one smaller when ``batch_size`` does not divide ``n``), so every
    row is used exactly once per epoch."""
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    while True:
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, batch_size):
            yield order[i: i + batch_size]


def train_loop(
    model: nn.Module,
    objective: Callable[..., torch.Tensor],
    data: Sequence[torch.Tensor] = (),
    *,
    opt: Union[str, Optimizer] = "Adam",
    lr: Optional[float] = None,
    steps: int = 100,
    seconds: Optional[float] = None,
    batch_size: Optional[int] = None,
    seed: int = 0,
    before_step: Sequence[Hook] = (),
    scheduler: Optional[SchedulerLike] = None,
    scheduler_interval: str = "epoch",
    monitor: Optional[Callable[[], float]] = None,
    monitor_every: int = 1,
    n_iter_no_change: Optional[int] = None,
    tol: float = 1e-4,
    restore_best: bool = False,
    on_step: Optional[Callable[[TrainResult], None]] = None,
    rollback: bool = True,
    progress: Optional[bool] = None,
    log: int = 1,
    describe: Optional[Callable[[], str]] = None,
    desc: str = "train",
    clock: Callable[[], float] = time.perf_counter,
    reduce: bool = False,
) -> TrainResult:
    """Minimise ``objective(*batch)`` over ``model``'s trainable parameters for ``steps``
    optimiser steps or until ``seconds`` of training time have passed, whichever comes first.

    Args:
        objective: returns the scalar loss of a batch. ``batch`` holds ``data``'s tensors (all
            ``(n, ...)``, e.g. inputs ``(n, in)``, targets ``(n, out)``, weights ``(n,)``) cut to
            the step's rows; with ``data=()`` it is called without arguments (a loss that holds
            its own points, such as a PDE residual). An objective that computed its gradients
            itself adds them to the parameters' ``.grad`` and returns :class:`Evaluated`.
        opt: "LBFGS" (:class:`kanlab.optim.LBFGS`, 20 inner iterations per step), "Adam", "AdamW"
            with ``lr`` (None: :func:`default_lr`), or an ``Optimizer`` instance used as given
            (then ``lr`` must be None).
        batch_size: rows per step; ``None`` or ``>= n``: the full data every step. Mini-batches
            come from :func:`seeded_batches` with ``seed``: every row once per epoch of
            ``ceil(n / batch_size)`` steps.
        before_step: hooks ``hook(step, batch)`` run before each step (e.g. grid updates).
        scheduler: an LR scheduler of ``opt`` (an instance) or a factory ``scheduler(optimizer)``,
            stepped after every epoch (``scheduler_interval="epoch"``) or every step ("step");
            ``ReduceLROnPlateau`` is given the watched value (epoch) or the step's loss (step).
        monitor: zero-argument callable (lower is better, e.g. a validation loss), evaluated in
            eval mode under ``torch.no_grad`` every ``monitor_every`` steps and at the last step.
        n_iter_no_change, tol: stop once the watched value (the latest monitored value, or the
            epoch's mean training loss without a monitor) has not dropped below its best minus
            ``tol`` for ``n_iter_no_change`` consecutive epochs (None: never). Single mini-batch
            losses are too noisy to judge progress by, hence epochs.
        restore_best: end in the state with the best watched value.
        on_step: ``on_step(result)`` after each completed step (histories, printing).
        rollback: a step whose loss or parameters turn NaN/Inf is undone (the state before it, or
            before the previous step when the loss at its start is already non-finite) and
            training stops with a ``RuntimeWarning``. ``False`` skips the per-step state copy
            and parameter scan (big models, cheap steps): a non-finite loss still stops
            training, leaving the model as it is.
        progress: a tqdm bar; None shows it only when stderr is a terminal (or in Jupyter), so
            logs stay quiet. Its text (``describe()``, default the loss) is refreshed every
            ``log`` steps; ``desc`` names the loop in the bar and in warnings.
        clock: the time source of ``seconds`` (e.g. ``time.process_time`` for CPU time).
        reduce: data parallelism under ``torch.distributed`` (``fit`` sets it under ``torchrun``):
            each rank passes its own rows as ``data``; every objective evaluation's gradients and
            value are averaged over the ranks, weighted by rows
            (:func:`kanlab.distributed.reduce_gradients`), so all ranks step alike. The model must
            start identical on every rank. Progress shows on rank 0 only.

    Returns a :class:`TrainResult`. The model ends in the train/eval mode it started in.
    """
    data = tuple(data)
    steps = check_int("steps", steps, low=0)
    check_optional_real("seconds", seconds, low=0)
    batch_size = check_optional_int("batch_size", batch_size, low=1, note="full batch")
    monitor_every = check_int("monitor_every", monitor_every, low=1)
    check_optional_int("n_iter_no_change", n_iter_no_change, low=1, note="never stop early")
    check_real("tol", tol, low=0, finite=False)
    log = check_int("log", log, low=1, note="refresh the progress bar every log steps")
    if scheduler_interval not in ("epoch", "step"):
        raise ValueError(f"scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}")
    n = _rows(data)
    if batch_size is not None and not data:
        raise ValueError("batch_size needs data to cut into batches; with data=() the objective uses its own points")
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = _optimizer(opt, params, lr)
    sched = _bind_scheduler(scheduler, optimizer)
    batches = seeded_batches(n, batch_size, seed) if batch_size is not None and batch_size < n else None
    per_epoch = 1 if batches is None else -(-n // batch_size)  # type: ignore[operator]

    result = TrainResult()
    epoch_losses: List[float] = []
    watched, best_value, best_state, since_best = math.inf, math.inf, None, 0
    previous: Optional[Dict[str, torch.Tensor]] = None  # the state before the last step
    was_training = model.training
    model.train()
    shown = (_interactive() if progress is None else progress) and is_main()
    bar = tqdm(total=steps, desc=desc, ncols=110, disable=not shown)
    try:
        for step in range(steps):
            if seconds is not None and result.seconds >= seconds:
                result.stop_reason = "time"
                break
            start = clock()
            batch = data if batches is None else _take(data, next(batches))
            for hook in before_step:
                hook(step, batch)
            snapshot = clone_state(model) if rollback else None
            loss = _step(optimizer, objective, batch, (_rows(batch) or 1) if reduce else None)
            finite = math.isfinite(loss) and accepted_finite(optimizer)
            if not (finite and (not rollback or _all_finite(params))):
                if snapshot is not None:  # a non-finite loss *at* the start means the previous step made it
                    model.load_state_dict(snapshot if math.isfinite(loss) or previous is None else previous)
                _warn_nan(desc, step, rollback, optimizer)
                result.stop_reason = "nan"
                break
            previous = snapshot
            if sched is not None and scheduler_interval == "step":
                _step_scheduler(sched, loss)
            result.seconds += clock() - start
            result.n_iter = step + 1
            result.loss_curve.append(loss)
            if on_step is not None:
                on_step(result)
            bar.update(1)
            if not bar.disable and step % log == 0:
                bar.set_description(describe() if describe is not None else f"{desc} loss: {loss:.2e}")
            epoch_losses.append(loss)
            if monitor is not None and (step % monitor_every == 0 or step == steps - 1):
                watched = _evaluate(model, monitor)
                result.monitor_curve.append(watched)
                result.monitor_steps.append(step + 1)
                result.monitor_seconds.append(result.seconds)
            epoch_end = (step + 1) % per_epoch == 0
            if not (epoch_end or step == steps - 1):
                continue
            if monitor is None:
                watched = sum(epoch_losses) / len(epoch_losses)
            epoch_losses.clear()
            if sched is not None and scheduler_interval == "epoch" and epoch_end:
                _step_scheduler(sched, watched)
            since_best = 0 if watched < best_value - tol else since_best + 1
            if watched < best_value:
                best_value, result.best_step = watched, step + 1
                if restore_best:
                    best_state = clone_state(model)
            if n_iter_no_change is not None and since_best >= n_iter_no_change:
                result.stop_reason = "no_change"
                break
    finally:
        bar.close()
        model.train(was_training)
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        result.best_step = result.n_iter
    return result


def _rows(data: Batch) -> int:
    """The common number of rows of ``data``'s tensors (0 without data)."""
    if not data:
        return 0
    n = data[0].shape[0]
    if any(not isinstance(t, torch.Tensor) or t.ndim == 0 or t.shape[0] != n for t in data):
        raise ValueError("data must be tensors with the same number of rows (first dimension), got shapes "
                         f"{[tuple(getattr(t, 'shape', ())) for t in data]}")
    return n


def _take(data: Batch, idx: torch.Tensor) -> Batch:
    return tuple(t[idx.to(t.device)] for t in data)


def _optimizer(opt: Union[str, Optimizer], params: List[torch.Tensor], lr: Optional[float]) -> Optimizer:
    if isinstance(opt, Optimizer):
        if lr is not None:
            raise ValueError("lr applies to an optimiser given by name; set it on the Optimizer instance instead")
        return opt
    if opt not in OPTIMIZERS:
        raise ValueError(f"opt must be one of {OPTIMIZERS} or a torch.optim.Optimizer, got {opt!r}")
    lr = default_lr(opt) if lr is None else check_real("lr", lr, low=0, low_inclusive=False)
    return make_optimizer(params, opt, lr)


def _bind_scheduler(scheduler: Optional[SchedulerLike], optimizer: Optimizer) -> Optional[LRScheduler]:
    if scheduler is None:
        return None
    if isinstance(scheduler, LRScheduler):
        if scheduler.optimizer is not optimizer:
            raise ValueError("scheduler must schedule the optimiser the loop steps: pass that Optimizer as opt, "
                             "or give a factory scheduler(optimizer)")
        return scheduler
    if callable(scheduler):
        return scheduler(optimizer)
    raise TypeError(f"scheduler must be an LR scheduler or a factory scheduler(optimizer), got {scheduler!r}")


def _step_scheduler(sched: LRScheduler, value: float) -> None:
    if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
        sched.step(value)
    else:
        sched.step()


class Evaluated(NamedTuple):
    """What an objective returns when it has already added its gradients into the parameters'
    ``.grad`` (``fit``'s compiled pass, :func:`kanlab.fused.accumulate`): the scalar ``value``,
    detached; the loop then skips ``backward``."""

    value: torch.Tensor
    #: a compiled program of the whole objective (:class:`kanlab.native.MSECall`) that
    #: :class:`kanlab.optim.LBFGS` can run its step on without calling back, or None
    program: Any = None


def _step(optimizer: Optimizer, objective: Callable[..., torch.Tensor], batch: Batch,
          reduce_weight: Optional[float] = None) -> float:
    """One optimiser step on ``objective(*batch)``; returns the objective at the state before it
    (the closure's first evaluation). With ``reduce_weight`` (this rank's rows) every evaluation
    is averaged over the ranks (see ``train_loop``'s ``reduce``)."""
    first: List[torch.Tensor] = []
    params = [p for g in optimizer.param_groups for p in g["params"]]
    # torch's zero_grad (set_to_none) with its profiler scope costs ~0.1 ms a call, ~10% of a
    # small network's LBFGS evaluation; the same effect directly unless the optimiser overrides it
    plain = type(optimizer).zero_grad is Optimizer.zero_grad

    def closure() -> torch.Tensor:
        if plain:
            for p in params:
                p.grad = None
        else:
            optimizer.zero_grad()
        value = objective(*batch)
        if isinstance(value, Evaluated):
            # the batch is fixed during a step: the optimiser may evaluate the program directly
            # (not under DDP, where every evaluation's gradients are averaged over the ranks)
            closure.program = value.program if reduce_weight is None else None  # type: ignore[attr-defined]
            value = value.value
        else:
            value.backward()
        if reduce_weight is not None:
            value = reduce_gradients(value, params, reduce_weight)
        if not first:
            first.append(value.detach())
        return value

    optimizer.step(closure)
    return float(first[0])


def _all_finite(params: Sequence[torch.Tensor]) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in params)


def _evaluate(model: nn.Module, monitor: Callable[[], float]) -> float:
    model.eval()
    with torch.no_grad():
        value = float(monitor())
    model.train()
    return value


def _warn_nan(desc: str, step: int, rolled_back: bool, optimizer: Optimizer) -> None:
    state = ("the model was restored to its last state with a finite loss" if rolled_back
             else "the model was left as it is (rollback=False)")
    lr = optimizer.param_groups[0].get("lr")
    advice = f"a smaller lr (it is {lr:g})" if isinstance(lr, (int, float)) else "a smaller lr"
    if type(optimizer).__name__ == "LBFGS":
        advice += ", opt='Adam'"
    warnings.warn(f"{desc} stopped at step {step}: the loss or the parameters became NaN/Inf; {state}. "
                  f"Try {advice}, or normalised inputs.", RuntimeWarning, stacklevel=user_stacklevel())


def _interactive() -> bool:
    """Whether a progress bar reaches a person: stderr is a terminal, or a Jupyter kernel runs."""
    isatty: Any = getattr(sys.stderr, "isatty", None)
    return bool(isatty is not None and isatty()) or "ipykernel" in sys.modules
