"""Training: pykan's ``fit`` (LBFGS/Adam, sparsity regulariser, grid updates) and grid extension.

``KAN.fit(dataset, ...)`` is :func:`fit`; its steps run in :func:`kanlab.loop.train_loop`. The model
is never put in a half-updated state: a step whose loss or parameters turn NaN/Inf is rolled back
and training stops with a warning.
"""
from __future__ import annotations

import math
import os
import time
import warnings
from typing import TYPE_CHECKING, Any, Callable, Container, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from . import fused
from .distributed import broadcast_state, is_main, shard_rows, weighted_mean, world_size
from .loop import Batch, Evaluated, Hook, TrainResult, clone_state, train_loop
from .optim import OPTIMIZERS
from .regularizers import DEFAULT_REG_METRIC, check_reg_metric, forward_with_reg, regularizer
from .starts import choose_start
from .validation import check_int, check_real, is_int, user_stacklevel

if TYPE_CHECKING:  # pragma: no cover
    from .network import KANNetwork

#: steps each start is trained for before ``fit(starts=...)`` keeps the best (see :func:`fit`)
START_STEPS = 10

__all__ = ["fit", "fit_grid_schedule", "best_of_seeds", "fit_seeds", "regularizer", "check_dataset", "grid_update_steps",
           "grid_update_hook", "update_grids", "disable_symbolic_in_fit"]


def check_dataset(model: KANNetwork, dataset: Dict[str, torch.Tensor], loss_fn_given: bool) -> Dict[str, torch.Tensor]:
    """Validate a pykan-style dataset dict and return it on the model's device and dtype.

    Needs ``train_input`` ``(n, width[0])`` and ``train_label`` (tensors or numpy arrays) (``(n, width[-1])`` for the default
    MSE loss; any shape the custom ``loss_fn`` accepts otherwise); ``test_input``/``test_label``
    are optional but come together.
    """
    if not isinstance(dataset, dict):
        raise TypeError(f"dataset must be a dict with 'train_input' and 'train_label', got {type(dataset).__name__}")
    missing = [key for key in ("train_input", "train_label") if key not in dataset]
    if missing:
        raise ValueError(f"dataset is missing {missing}; it needs 'train_input' and 'train_label'")
    if ("test_input" in dataset) != ("test_label" in dataset):
        raise ValueError("dataset must give 'test_input' and 'test_label' together, or neither")
    out = {}
    for split in ("train", "test"):
        if f"{split}_input" not in dataset:
            continue
        x, y = (_as_tensor(f"{split}_{kind}", dataset[f"{split}_{kind}"], model) for kind in ("input", "label"))
        if x.is_floating_point():
            x = x.to(device=model.device, dtype=model.dtype)
        model.check_input(x, f"dataset['{split}_input']")
        if y.shape[0] != x.shape[0]:
            raise ValueError(
                f"dataset['{split}_label'] has {y.shape[0]} rows but dataset['{split}_input'] has {x.shape[0]}"
            )
        y = y.to(device=model.device, dtype=model.dtype if y.is_floating_point() else y.dtype)
        if y.is_floating_point() and not bool(torch.isfinite(y).all()):
            raise ValueError(f"dataset['{split}_label'] contains NaN or Inf values")
        if not loss_fn_given and (y.ndim != 2 or y.shape[1] != model.width[-1]):
            raise ValueError(
                f"dataset['{split}_label'] must have shape (n, {model.width[-1]}) for the default MSE "
                f"loss, got {tuple(y.shape)} (use .reshape(-1, 1) for a single output)"
            )
        out[f"{split}_input"], out[f"{split}_label"] = x, y
    return out


def _as_tensor(name: str, value: Any, model: KANNetwork) -> torch.Tensor:
    """A dataset entry as a tensor: tensors as given; numpy arrays converted (float arrays, and
    any input array, to the model's dtype; integer labels stay integers, e.g. class indices)."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
        t = torch.from_numpy(np.ascontiguousarray(value))
        convert = t.is_floating_point() or name.endswith("_input")
        return t.to(device=model.device, dtype=model.dtype) if convert else t.to(device=model.device)
    raise TypeError(f"dataset['{name}'] must be a torch.Tensor or a numeric numpy array, got {type(value).__name__}")


def fit(
    model: KANNetwork,
    dataset: Dict[str, torch.Tensor],
    opt: str = "LBFGS",
    steps: int = 100,
    log: int = 1,
    lamb: float = 0.0,
    lamb_l1: float = 1.0,
    lamb_entropy: float = 2.0,
    lamb_coef: float = 0.0,
    lamb_coefdiff: float = 0.0,
    update_grid: bool = True,
    grid_update_num: int = 10,
    loss_fn: Optional[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = None,
    lr: float = 1.0,
    start_grid_update_step: int = -1,
    stop_grid_update_step: int = 50,
    batch: int = -1,
    metrics: Optional[Sequence[Callable[[], object]]] = None,
    progress: Optional[bool] = None,
    objective: Optional[Callable[[KANNetwork], torch.Tensor]] = None,
    starts: Union[str, bool] = "auto",
    display_metrics: Optional[Sequence[str]] = None,
    singularity_avoiding: bool = False,
    y_th: float = 1000.0,
    reg_metric: str = DEFAULT_REG_METRIC,
    save_fig: bool = False,
    in_vars: Optional[Sequence[str]] = None,
    out_vars: Optional[Sequence[str]] = None,
    beta: float = 3,
    save_fig_freq: int = 1,
    img_folder: str = "./video",
) -> Dict[str, List[float]]:
    """Train ``model`` on ``dataset`` (pykan's ``fit``; same names and defaults, plus ``starts``).

    Args:
        dataset: dict with ``train_input``, ``train_label`` and optionally ``test_input``,
            ``test_label``.
        opt: "LBFGS" (strong-Wolfe line search, 20 inner iterations per step, as pykan), "Adam" or
            "AdamW".
        steps: optimiser steps. ``log``: refresh the progress bar every ``log`` steps.
        lamb: weight of the regulariser ``lamb_l1 * L1 + lamb_entropy * entropy + lamb_coef *
            |coef| + lamb_coefdiff * |diff coef|`` (all off when ``lamb == 0``).
        reg_metric: what L1 and entropy measure (:mod:`kanlab.regularizers`):
            ``"edge_forward_mean"`` (default; the KAN paper's mean ``|phi|`` per edge), or one of
            pykan 0.2.8's ``"edge_forward_spline_n"`` (pykan's default), ``"edge_forward_spline_u"``,
            ``"edge_forward_sum"``, ``"edge_backward"``, ``"node_backward"``, computed as pykan's.
        update_grid, grid_update_num, start_grid_update_step, stop_grid_update_step: the grid is
            adapted to the step's training inputs ``grid_update_num`` times, evenly spread over
            the steps ``start <= step < stop`` (the first at step 0 by default; see
            :func:`grid_update_steps`). On a new model (``model.fresh``) the update before the
            first step adapts the input layer, and a hidden layer only where its inputs leave
            its grid: pykan adapts every layer there, to an untrained network's narrow hidden
            activations, which overfits (:func:`update_grids`).
        loss_fn: ``loss_fn(pred, label)``; default mean squared error.
        lr: learning rate. batch: rows per step (-1 = full batch); mini-batches are seeded
            epochs (every training row once per epoch, a private generator seeded with 0; torch's
            global RNG is untouched), the test loss is then taken on ``batch`` seeded random rows.
        metrics: zero-argument callables; each step records ``float(metric())`` under its name.
        progress: show a tqdm progress bar; None (default): only when stderr is a terminal (or in
            Jupyter), so logs stay quiet. ``display_metrics``: the history keys the bar shows
            (pykan's option; default train and test loss and the regulariser).
        singularity_avoiding, y_th: pykan's options, accepted without effect: kanlab's symbolic
            functions always avoid their singularities (they clamp their argument, see
            :mod:`kanlab.symbolic_lib`), as pykan's do only with ``singularity_avoiding=True``.
        save_fig, in_vars, out_vars, beta, save_fig_freq, img_folder: pykan's training video:
            with ``save_fig=True`` every ``save_fig_freq``-th step draws the diagram
            (:func:`kanlab.plot.plot_kan` with ``in_vars``, ``out_vars``, ``beta``, title
            ``"Step n"``) and saves it as ``img_folder/n.jpg``, as pykan's ``fit`` does (while
            ``starts`` are tried, from step ``START_STEPS`` on).
        objective: a custom loss ``objective(model) -> scalar tensor`` that replaces the data loss
            (physics-informed training, see :mod:`kanlab.pde`). ``dataset`` then needs only
            ``train_input`` ``(n, width[0])``: the points grid updates adapt to (labels are
            ignored); ``loss_fn`` and mini-batches do not apply.
        starts: try other starts first (:mod:`kanlab.starts`): the model as built, then its
            narrow layers' base weights (fan-in <= 8) all positive, then in Walsh sign patterns,
            each trained for the first :data:`START_STEPS` steps; the lowest objective goes on
            for the remaining steps (its history is the one returned; the others are dropped,
            and ``model.start_losses`` keeps ``{start: objective}``). ``"auto"`` (default): on a
            model's first full-batch LBFGS fit, as constructed (``model.fresh``: no training,
            loading, pruning or symbolic edges yet), of at least ``2 * START_STEPS`` steps;
            ``True``: on any fit of at least ``START_STEPS`` steps; ``False``: never. Random
            base-weight signs strand some seeds of small KANs for good (4 of 10 on
            exp(sin(pi x) + y^2) with ``[2, 1, 1]``); ``python -m benchmarks.seeds`` measures it.

    Returns:
        dict of per-step lists: ``train_loss`` and ``test_loss`` (RMSE for the default loss, the
        raw ``loss_fn`` or ``objective`` value otherwise; ``test_loss`` stays empty without a test
        split or with ``objective``), ``reg`` (0 when ``lamb == 0``) and one list per metric.
        ``train_loss`` and ``reg`` are those of the step's last objective evaluation. Entries are
        ``numpy.float64``: floats with pykan's ``.item()``.
    """
    if opt not in OPTIMIZERS:
        raise ValueError(f"opt must be one of {OPTIMIZERS}, got {opt!r}")
    prepare = getattr(model, "prepare_fit", None)  # KAN's: basis="auto" picks its basis here
    if prepare is not None:
        prepare(dataset, loss_fn=loss_fn, objective=objective)
    steps = check_int("steps", steps, low=0)
    log = check_int("log", log, low=1, note="refresh the progress bar every log steps")
    lr = check_real("lr", lr, low=0, low_inclusive=False)
    shown = ["train_loss", "test_loss", "reg"] if display_metrics is None else list(display_metrics)
    if starts not in ("auto", True, False):
        raise ValueError(f"starts must be 'auto', True or False, got {starts!r}")
    if not (batch == -1 or (is_int(batch) and batch > 0)):
        raise ValueError(f"batch must be -1 (full batch) or a positive int, got {batch!r}")
    check_reg_metric(reg_metric)
    save_fig_freq = check_int("save_fig_freq", save_fig_freq, low=1)
    if lamb > 0 and not getattr(model, "save_act", True):
        warnings.warn(f"fit(lamb={lamb}) trains without the regulariser: model.speed() switched activation "
                      "saving off, which in pykan turns the regulariser off too (its 'setting lamb=0'). Set "
                      "model.save_act = True to regularise.", UserWarning, stacklevel=user_stacklevel())
        lamb = 0.0
    if objective is not None:
        data = _objective_dataset(model, dataset, objective, loss_fn, batch)
    else:
        data = check_dataset(model, dataset, loss_fn_given=loss_fn is not None)
    rmse = loss_fn is None and objective is None
    # the default MSE and regulariser: one compiled pass where it applies (kanlab.fused)
    compiled = rmse and (lamb == 0 or (reg_metric == DEFAULT_REG_METRIC and not lamb_coef and not lamb_coefdiff))
    loss_fn = loss_fn or (lambda pred, y: torch.mean((pred - y) ** 2))
    x_train, y_train = data["train_input"], data["train_label"]
    results: Dict[str, List[float]] = {"train_loss": [], "test_loss": [], "reg": []}
    for metric in metrics or ():
        if not callable(metric) or not hasattr(metric, "__name__"):
            raise TypeError(f"metrics must be named zero-argument callables (functions), got {metric!r}")
        results[metric.__name__] = []
    unknown = [name for name in shown if name not in results]
    if unknown:
        raise ValueError(f"display_metrics {unknown} are not recorded; choose from {sorted(results)}")
    last: Dict[str, torch.Tensor] = {}  # the latest evaluation's data loss and regulariser

    def total(x: torch.Tensor, y: torch.Tensor) -> Union[torch.Tensor, Evaluated]:
        fast = fused.accumulate(model, x, y, lamb, lamb_l1, lamb_entropy) if compiled else None
        if fast is not None:  # the gradients are in .grad already
            last["loss"], last["reg"], last["rows"] = fast.loss, fast.reg, x.shape[0]
            return Evaluated(fast.value, fast.program)
        pred: Optional[torch.Tensor] = None
        if lamb > 0:  # with an objective, the regulariser reads the activations on train_input
            pred, reg = forward_with_reg(model, x, reg_metric, lamb_l1, lamb_entropy, lamb_coef, lamb_coefdiff)
        else:
            reg = x.new_zeros(())
        if objective is not None:
            loss = objective(model)
            if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
                raise ValueError(f"objective(model) must return a scalar tensor, got {type(loss).__name__} "
                                 f"of shape {tuple(getattr(loss, 'shape', ()))}")
        else:
            loss = loss_fn(model(x) if pred is None else pred, y)
        last["loss"], last["reg"], last["rows"] = loss.detach(), reg.detach(), x.shape[0]
        return loss + lamb * reg

    test_rows = torch.Generator(device="cpu").manual_seed(1)

    def record(_: TrainResult) -> None:
        # numpy.float64: a float (json, arithmetic, formatting) with the ``.item()`` of pykan's
        # entries (0-d numpy arrays), so ``results["test_loss"][-1].item()`` runs unchanged
        train_loss = weighted_mean(float(last["loss"]), last["rows"])  # over all ranks' rows under torchrun
        results["train_loss"].append(np.float64(math.sqrt(max(train_loss, 0.0)) if rmse else train_loss))
        results["reg"].append(np.float64(weighted_mean(float(last["reg"]), last["rows"])))
        if "test_input" in data:
            results["test_loss"].append(np.float64(_test_loss(model, data, loss_fn, rmse, batch, test_rows)))
        with torch.no_grad():
            for metric in metrics or ():
                results[metric.__name__].append(np.float64(float(metric())))
        step = len(results["train_loss"]) - 1
        if save_fig and not trying and step % save_fig_freq == 0 and is_main():
            _save_frame(model, img_folder, step, in_vars, out_vars, beta)

    if objective is None:
        _warn_if_overparameterised(model, x_train, "test_input" in data)
    model.remember_data(x_train, y_train)
    schedule = grid_update_steps(grid_update_num, start_grid_update_step, stop_grid_update_step)
    parallel = world_size() > 1  # under torchrun: rank 0's model, each rank its rows, averaged gradients
    if parallel:
        broadcast_state(model)
    x_rows, y_rows = shard_rows((x_train, y_train))

    def run(n_steps: int, first: int = 0, desc: str = "fit") -> None:
        """Steps ``first .. first + n_steps - 1`` of the fit (grid updates where the schedule says)."""
        hooks = [grid_update_hook(model, [s - first for s in schedule if s >= first],
                                  untrained=first == 0 and getattr(model, "fresh", False))] if update_grid else []
        train_loop(model, total, (x_rows, y_rows), opt=opt, lr=lr, steps=n_steps,
                   batch_size=None if batch == -1 else batch, before_step=hooks, on_step=record,
                   progress=progress, log=log, describe=lambda: _describe(results, shown), desc=desc,
                   reduce=parallel)

    done, trying = 0, False
    if _tries_starts(model, starts, opt, batch, steps):
        histories: List[Dict[str, List[float]]] = []

        def trial() -> float:
            for values in results.values():
                values.clear()
            run(START_STEPS, desc="fit (trying starts)")
            histories.append({key: list(values) for key, values in results.items()})
            return float(last["loss"] + lamb * last["reg"]) if last else math.nan

        trying = True  # no save_fig frames of starts that may lose
        model.start_losses, winner = choose_start(model, trial)
        trying = False
        for key, values in histories[list(model.start_losses).index(winner)].items():
            results[key][:] = values
        done = START_STEPS
    run(steps - done, done)
    model.fresh = False
    return results


def _save_frame(model: KANNetwork, folder: str, step: int, in_vars: Optional[Sequence[str]],
                out_vars: Optional[Sequence[str]], beta: float) -> None:
    """``fit(save_fig=True)``'s frame of step ``step``: the diagram as ``folder/step.jpg``."""
    import matplotlib.pyplot as plt

    from .plot import plot_kan

    os.makedirs(folder, exist_ok=True)
    fig = plot_kan(model, beta=beta, in_vars=in_vars, out_vars=out_vars, title=f"Step {step}")
    fig.savefig(os.path.join(folder, f"{step}.jpg"), bbox_inches="tight", dpi=100)
    plt.close(fig)


def disable_symbolic_in_fit(model: KANNetwork, lamb: float) -> Tuple[bool, bool]:
    """pykan's ``disable_symbolic_in_fit``: returns ``(save_act, symbolic_enabled)`` and changes nothing.

    pykan's ``fit`` calls it to skip work (activation saving when ``lamb == 0``, the symbolic
    branch while no edge is symbolic) and restores the two flags afterwards. kanlab skips both
    on its own (the regulariser's activations are computed only when ``lamb > 0``, a layer's
    symbolic edges only while one is active), so there is nothing to switch off; ``lamb`` is
    accepted for pykan's signature.
    """
    check_real("lamb", lamb, low=0)
    return bool(getattr(model, "save_act", True)), bool(getattr(model, "symbolic_enabled", True))


def _tries_starts(model: KANNetwork, starts: Union[str, bool], opt: str, batch: int, steps: int) -> bool:
    """Whether ``fit(starts=...)`` tries other starts on this call (see :func:`fit`)."""
    if starts is False or steps < START_STEPS:
        return False
    if starts is True:
        return True
    untouched = getattr(model, "fresh", False) and all(sym.n_active == 0 for sym in model.symbolic) and all(
        bool((layer.mask == 1).all()) for layer in model.layers)
    return untouched and opt == "LBFGS" and batch == -1 and steps >= 2 * START_STEPS


def effective_params(model: KANNetwork) -> int:
    """Trainable numbers behind the model's switched-on edges: ``n_basis + 2`` per spline edge
    (coefficients, ``scale_base``, ``scale_sp``) and 4 per symbolic edge (its affine ``a, b, c, d``)."""
    return sum(int(layer.mask.count_nonzero()) * (layer.n_basis + 2) + 4 * sym.n_active
               for layer, sym in zip(model.layers, model.symbolic))


def _warn_if_overparameterised(model: KANNetwork, x_train: torch.Tensor, has_test: bool) -> None:
    """Warn when the edges have more free numbers than there are training labels: such a fit can
    interpolate the data and generalise poorly (e.g. the mission document's diabetes recipe,
    ``[10, 5, 1]`` refined to grid 24, 1595 numbers for 353 rows)."""
    n_params, n_rows = effective_params(model), x_train.shape[0]
    if n_params > n_rows * model.width[-1]:
        check = "" if has_test else " Add dataset['test_input'/'test_label'] to watch the test loss."
        warnings.warn(f"the model has {n_params} trainable numbers on its edges for {n_rows} training rows: it can "
                      f"interpolate them and generalise poorly. Use a smaller grid or width, regularise "
                      f"(lamb > 0), or use more data.{check}", UserWarning, stacklevel=user_stacklevel())


def grid_update_steps(grid_update_num: int = 10, start: int = -1, stop: int = 50) -> range:
    """pykan's grid-update schedule: the steps ``start <= step < stop`` that are multiples of
    ``int(stop / grid_update_num)`` (at least 1): ``grid_update_num`` updates evenly spread over
    the first ``stop`` steps, the first at step 0 by default (``range(0, 50, 5)``)."""
    if grid_update_num <= 0:
        return range(0)
    every = max(1, int(stop / grid_update_num))
    first = -(-max(start, 0) // every) * every  # the first multiple of ``every`` at or after start
    return range(first, stop, every)


def grid_update_hook(model: KANNetwork, steps: Container[int], x: Optional[torch.Tensor] = None,
                     untrained: bool = False) -> Hook:
    """A ``before_step`` hook for :func:`kanlab.loop.train_loop`: at the steps in ``steps``, adapt
    the grids to ``x`` ``(n, width[0])``, or to the step's inputs (``batch[0]``) when ``x`` is None.

    ``untrained``: the model has not been optimised yet; its first update then leaves the hidden
    layers' grids alone unless their inputs leave them (:func:`update_grids`' ``hidden=False``).
    """
    done: List[int] = []

    def update(step: int, batch: Batch) -> None:
        if step in steps:
            update_grids(model, batch[0] if x is None else x, hidden=bool(done) or not untrained)
            done.append(step)

    return update


@torch.no_grad()
def update_grids(model: KANNetwork, x: torch.Tensor, hidden: bool = True) -> None:
    """A grid update on ``x`` ``(n, width[0])``: the model's ``update_grid_from_samples``, or with
    ``hidden=False`` the input layer's only, plus each hidden layer whose inputs leave its grid
    range (to cover them).

    An untrained network's hidden activations span a small part of their final range (0.3 and
    0.8 of the [-1, 1] grid's 2 on ``[100, 10, 10, 1]``); a grid adapted to them gives the hidden splines
    their full resolution there, and the first optimiser steps use it to fit the training rows
    (pykan's schedule does this at step 0: test RMSE 0.11-0.24 against 0.024-0.036 over seeds 0-3
    on 200 rows of the 100-input attribution tutorial, pykan 0.09-0.49; ``python -m
    benchmarks.pykan_tutorials``). The input layer's inputs are the data and adapt at once.
    """
    def needed(l: int, inputs: torch.Tensor) -> bool:
        lo, hi = model.layers[l].domain.unbind(-1)  # (in,)
        return hidden or l == 0 or bool(((inputs < lo) | (inputs > hi)).any())

    model.update_grid_from_samples(x, only=needed)


def _objective_dataset(
    model: KANNetwork, dataset: Dict[str, torch.Tensor], objective: Callable, loss_fn: Optional[Callable], batch: int
) -> Dict[str, torch.Tensor]:
    """Checks for ``fit(objective=...)``; returns ``{"train_input", "train_label"}`` where the
    label is a placeholder (an empty column per row) that nothing reads."""
    if not callable(objective):
        raise TypeError(f"objective must be a callable objective(model) -> scalar tensor, got {objective!r}")
    if loss_fn is not None:
        raise ValueError("give either loss_fn (a data loss) or objective (replaces the data loss), not both")
    if batch != -1:
        raise ValueError(f"batch must be -1 with an objective (it chooses its own points), got {batch!r}")
    if not isinstance(dataset, dict) or "train_input" not in dataset:
        raise ValueError("with an objective, dataset must be a dict with 'train_input' (the points grid updates use)")
    x = dataset["train_input"]
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"dataset['train_input'] must be a torch.Tensor, got {type(x).__name__}")
    x = x.to(device=model.device, dtype=model.dtype)
    model.check_input(x, "dataset['train_input']")
    return {"train_input": x, "train_label": x.new_zeros(x.shape[0], 0)}



@torch.no_grad()
def _test_loss(model: KANNetwork, data: Dict[str, torch.Tensor], loss_fn: Callable, rmse: bool, batch: int,
               gen: torch.Generator) -> float:
    """The test loss; with mini-batches (``batch < n_test``) on ``batch`` random rows drawn from ``gen``."""
    x, y = data["test_input"], data["test_label"]
    if batch != -1 and batch < x.shape[0]:
        idx = torch.randperm(x.shape[0], generator=gen)[:batch].to(x.device)
        x, y = x[idx], y[idx]
    compiled = fused.mse_value(model, x, y) if rmse else None  # the C forward where it applies
    value = float(loss_fn(model(x), y) if compiled is None else compiled)  # no_grad: a record, not a step
    return math.sqrt(max(value, 0.0)) if rmse else value


def _describe(results: Dict[str, List[float]], shown: Sequence[str]) -> str:
    """The progress bar's text: the latest value of each ``shown`` history key that has one."""
    return " | ".join(f"{name}: {results[name][-1]:.2e}" for name in shown if results[name])


def fit_seeds(
    build: Callable[[int], Any], dataset: Dict[str, torch.Tensor], seeds: Sequence[int], **fit_kwargs: Any
) -> List[Tuple[float, Any, Dict[str, list], int]]:
    """Fit one fresh model per seed: ``(final training loss, model, history, seed)`` per seed,
    lowest loss first (a non-finite or missing loss counts as ``inf``).

    ``build(seed)`` returns a model with a ``fit(dataset, **fit_kwargs)`` method returning a
    history dict with ``train_loss`` (a kanlab ``KAN``, or any model with pykan's ``fit``).
    """
    if not seeds:
        raise ValueError("fit_seeds needs at least one seed")
    runs = []
    for seed in seeds:
        model = build(seed)
        history = model.fit(dataset, **fit_kwargs)
        final = float(history["train_loss"][-1]) if len(history["train_loss"]) else math.inf
        runs.append((final if math.isfinite(final) else math.inf, model, history, seed))
    return sorted(runs, key=lambda run: run[0])  # stable: ties keep the seeds' order


def best_of_seeds(
    build: Callable[[int], Any], dataset: Dict[str, torch.Tensor], seeds: Sequence[int], **fit_kwargs: Any
) -> Tuple[Any, Dict[str, list], int]:
    """Fit one fresh model per seed; keep the one with the lowest final *training* loss.

    KAN training is seed-sensitive (a bad start can ignore an input for good); a few short
    restarts at a coarse grid, chosen on the training loss only, are the usual remedy.
    ``build`` as in :func:`fit_seeds`. Returns ``(model, history, seed)``.
    """
    _, model, history, seed = fit_seeds(build, dataset, seeds, **fit_kwargs)[0]
    return model, history, seed


def fit_grid_schedule(
    model: KANNetwork,
    dataset: Dict[str, torch.Tensor],
    grids: Sequence[int],
    steps: Union[int, Sequence[int]] = 200,
    stop_on_rise: Optional[float] = 0.1,
    seconds: Optional[float] = None,
    on_grid: Optional[Callable[[Dict[str, Any]], None]] = None,
    **fit_kwargs: Any,
) -> List[Dict[str, Any]]:
    """Grid extension: :func:`fit` at each grid of ``grids`` (refining first where the model's grid
    differs), pykan's recipe. Every "refine, then fit, per grid" in kanlab is this function.

    ``steps``: fit steps per grid, an int or one count per grid. With a test split, refining
    stops as soon as the test RMSE exceeds the best so far by more than ``stop_on_rise``
    (relative; ``None`` never stops) and the model is restored to its best grid: past the
    interpolation threshold a finer grid only overfits (the test split then acts as a
    validation split, as in pykan's workflow). ``seconds``: no further grid is started once this
    many seconds have passed since the first. ``on_grid(row)`` runs after each grid. Further
    keywords go to :func:`fit`. Returns one row per fitted grid: ``{"grid", "train_loss",
    "test_loss", "seconds", "history"}`` (``history``: that fit's per-step lists); the model is
    modified in place. An empty ``grids`` fits nothing.
    """
    per_grid = [steps] * len(grids) if is_int(steps) else list(steps)  # type: ignore[arg-type]
    if len(per_grid) != len(grids):
        raise ValueError(f"steps must be an int or one count per grid ({len(grids)}), got {steps!r}")
    rows: List[Dict[str, Any]] = []
    best: Optional[Tuple[float, Dict[str, torch.Tensor]]] = None
    begin = time.perf_counter()
    for grid, n_steps in zip(grids, per_grid):
        if seconds is not None and time.perf_counter() - begin > seconds:
            break
        start = time.perf_counter()
        if grid != model.grid:
            model.refine(int(grid))
        history = fit(model, dataset, steps=n_steps, **fit_kwargs)
        test = history["test_loss"][-1] if history["test_loss"] else math.nan
        rows.append({"grid": int(grid), "train_loss": history["train_loss"][-1] if history["train_loss"] else math.nan,
                     "test_loss": test, "seconds": time.perf_counter() - start, "history": history})
        if on_grid is not None:
            on_grid(rows[-1])
        if stop_on_rise is None or not math.isfinite(test):
            continue
        if best is None or test < best[0]:
            best = (test, clone_state(model))
        elif test > best[0] * (1.0 + stop_on_rise):
            model.load_state_dict(best[1])  # layers adopt the best state's grid size (and config follows)
            break
    return rows
