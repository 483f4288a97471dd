"""KAN vs MLP on your own table: the library side of ``kanlab compare``.

Reads a CSV (:func:`read_csv_table`) or a built-in dataset (:func:`load_builtin`, from
:func:`kanlab.datasets.load_tabular`), trains a KAN and an MLP with (nearly) the same number of
parameters under the same budget (optimiser, learning rate, batch schedule, step count and/or
wall-time) with :func:`kanlab.supervised.train_module` (over :func:`kanlab.loop.train_loop`), and
reports test accuracy (classification) or RMSE and R^2 (regression)::

    from kanlab.compare import read_csv_table, compare, format_table, plot_comparison
    data = read_csv_table("my.csv", target="price")
    runs = compare(data, hidden=(8,), steps=500)
    print(format_table(data, runs)); plot_comparison(data, runs, "compare.png")

CSV rules: the file is UTF-8 (a BOM, as Excel's "CSV UTF-8" writes, is fine); the delimiter is
sniffed among ``,`` ``;`` tab and ``|``; in a ``;``-separated file, a column whose cells all parse
as numbers once decimal commas become points (``3,5`` -> 3.5) is read that way (noted in
``notes``; ``1.234,5`` with a thousands point stays text). The first row names the columns; the
target is ``target`` (default: the last column).
Numeric columns are used as they are; non-numeric feature columns are one-hot encoded (one
column ``name=value`` per level, levels sorted). Empty cells and ``NA``, ``NaN``, ``?`` count as
missing: rows with a missing value are an error unless ``dropna=True`` drops them. Task ``"auto"``
picks classification for a non-numeric target or an integer target with at most 20 distinct
values, regression otherwise. Inputs are standardised with the training split's statistics (and
the target too, for regression); both models see the same data.
"""
from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from .loop import default_lr
from .model import KAN
from .optim import OPTIMIZERS
from .preprocessing import Standardizer
from .supervised import grid_update_hook, train_module

__all__ = ["TabularData", "ModelRun", "read_csv_table", "load_builtin", "infer_task", "mlp", "mlp_params", "mlp_width_for_params",
           "resolve_batch_size", "describe_budget", "compare", "format_table", "plot_comparison"]

TASKS = ("auto", "regression", "classification")
_MISSING = {"", "na", "nan", "n/a", "null", "none", "?", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
_DELIMITERS = ",;\t|"  # the delimiters read_csv_table sniffs for
_SNIFF_CHARS = 65536
_MAX_LEVELS = 100  # a non-numeric feature with more levels is probably an identifier
_MAX_CLASSES_AUTO = 20
_CURVE_ROWS = 5000  # learning curves are evaluated on at most this many test rows
FULL_BATCH_ROWS = 4096  # auto batch size: full batch up to this many training rows, else AUTO_BATCH
AUTO_BATCH = 512


@dataclass
class TabularData:
    """Train/test split of one table. ``X_*``: float ``(n, d)``; ``y_*``: ``(n,)`` float targets
    (regression) or int class indices into ``classes`` (classification)."""

    name: str
    task: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    feature_names: List[str]
    classes: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    @property
    def n_outputs(self) -> int:
        return len(self.classes) if self.task == "classification" else 1


@dataclass
class ModelRun:
    """One trained model: its sizes, budget used, final test metrics and learning curve
    (``curve``: test accuracy or RMSE at ``curve_steps`` / ``curve_seconds`` of training)."""

    name: str
    width: List[int]
    params: int
    steps: int
    seconds: float
    metrics: Dict[str, float]
    curve: List[float]
    curve_steps: List[int]
    curve_seconds: List[float]


# ---------------------------------------------------------------------------------------- data
def _parse_float(cell: str) -> Optional[float]:
    """The cell as a finite float, else ``None`` (text, missing, ``inf`` and ``nan`` alike)."""
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def infer_task(values: Sequence[str]) -> str:
    """"classification" or "regression" for a target column given as strings (see module doc)."""
    numbers = [_parse_float(v) for v in values]
    if any(v is None for v in numbers):
        return "classification"
    if all(float(v).is_integer() for v in numbers) and len(set(numbers)) <= _MAX_CLASSES_AUTO:
        return "classification"
    return "regression"


def _read_rows(path: str) -> Tuple[List[List[str]], str]:
    """The non-blank rows of a UTF-8 CSV file (a leading BOM is dropped) and its delimiter, sniffed
    among ``,;\t|`` from the first 64 KiB (``,`` when the sniffer cannot tell)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            sample = fh.read(_SNIFF_CHARS)
            fh.seek(0)
            whole_lines = sample[:sample.rfind("\n") + 1] or sample  # a cut last line can mislead the sniffer
            try:
                delimiter = csv.Sniffer().sniff(whole_lines, delimiters=_DELIMITERS).delimiter
            except csv.Error:
                delimiter = ","
            rows = [row for row in csv.reader(fh, delimiter=delimiter) if row and any(cell.strip() for cell in row)]
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text (byte {err.start}); save it as UTF-8 (Excel: 'CSV UTF-8')") from None
    return rows, delimiter


def _from_decimal_commas(col: List[str]) -> Optional[List[str]]:
    """``col`` with decimal commas as points (``"3,5"`` -> ``"3.5"``) if that makes it numeric (some
    cell has a comma, and every non-missing cell then parses; ``"1.234,5"`` does not), else ``None``."""
    present = [cell for cell in col if cell.lower() not in _MISSING]
    if not any("," in cell for cell in present) or any(_parse_float(cell.replace(",", ".")) is None for cell in present):
        return None
    return [cell.replace(",", ".") for cell in col]


def read_csv_table(path: str, target: Optional[str] = None, task: str = "auto", test_fraction: float = 0.2,
                   seed: int = 0, dropna: bool = False) -> TabularData:
    """Read a CSV with a header row into a seeded random train/test split (see module doc).

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for a file that is not
    UTF-8, an unknown target column, an empty table, missing values (without ``dropna``), a non-numeric regression target
    or a one-hot column with more than 100 levels.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such CSV file: {path!r}")
    rows, delimiter = _read_rows(path)
    if len(rows) < 2:
        raise ValueError(f"{path}: needs a header row and at least one data row, found {len(rows)} row(s)")
    header = [name.strip() for name in rows[0]]
    body = rows[1:]
    bad = [i + 2 for i, row in enumerate(body) if len(row) != len(header)]
    if bad:
        raise ValueError(f"{path}: rows must have {len(header)} cells like the header; lines {bad[:5]} do not")
    target = header[-1] if target is None else target
    if target not in header:
        raise ValueError(f"{path}: unknown target column {target!r}; columns are {header}")
    columns = [[row[j].strip() for row in body] for j in range(len(header))]
    notes = []
    if delimiter == ";":  # European CSV: decimal commas
        converted = []
        for j, col in enumerate(columns):
            fixed = _from_decimal_commas(col)
            if fixed is not None:
                columns[j] = fixed
                converted.append(header[j])
        if converted:
            notes.append(f"read decimal commas (3,5 = 3.5) in {', '.join(map(repr, converted))}")
    missing = np.array([[cell.lower() in _MISSING for cell in col] for col in columns]).any(0)
    if missing.any():
        lines = (np.flatnonzero(missing) + 2).tolist()
        if not dropna:
            raise ValueError(f"{path}: {len(lines)} row(s) have missing values (empty, NA, NaN, Inf or ?), e.g. lines "
                             f"{lines[:5]}; fix them or pass dropna=True (--dropna) to drop those rows")
        notes.append(f"dropped {len(lines)} row(s) with missing values")
        columns = [[cell for cell, gone in zip(col, missing) if not gone] for col in columns]
        if not columns[0]:
            raise ValueError(f"{path}: every row has a missing value")
    t = header.index(target)
    y_raw = columns[t]
    task = infer_task(y_raw) if task == "auto" else task
    features, names = [], []
    for name, col in zip(header, columns):
        if name == target:
            continue
        values = [_parse_float(cell) for cell in col]
        if all(v is not None for v in values):
            features.append(np.array(values, dtype=np.float64)[:, None])
            names.append(name)
            continue
        levels = sorted(set(col))
        if len(levels) > _MAX_LEVELS:
            raise ValueError(f"{path}: column {name!r} is not numeric and has {len(levels)} distinct values (more "
                             f"than {_MAX_LEVELS} to one-hot encode); remove it or encode it as numbers")
        features.append(np.array([[cell == level for level in levels] for cell in col], dtype=np.float64))
        names += [f"{name}={level}" for level in levels]
        notes.append(f"one-hot encoded {name!r} ({len(levels)} levels)")
    if not features:
        raise ValueError(f"{path}: no feature columns besides the target {target!r}")
    X = np.concatenate(features, axis=1)
    if task == "regression":
        values = [_parse_float(cell) for cell in y_raw]
        if any(v is None for v in values):
            raise ValueError(f"{path}: target {target!r} is not numeric; use task='classification'")
        y = np.array(values, dtype=np.float64)
        classes: List[str] = []
    else:
        numeric = all(_parse_float(v) is not None for v in y_raw)
        keys = sorted(set(y_raw), key=(lambda v: float(v)) if numeric else None)
        classes = [k for k in keys]
        index = {k: i for i, k in enumerate(keys)}
        y = np.array([index[v] for v in y_raw], dtype=np.int64)
        if len(classes) < 2:
            raise ValueError(f"{path}: target {target!r} has a single class {classes}; nothing to classify")
    order = np.random.RandomState(seed).permutation(len(X))
    n_test = max(1, int(round(test_fraction * len(X))))
    if len(X) - n_test < 2:
        raise ValueError(f"{path}: {len(X)} usable rows are too few to split into train and test")
    test, train = order[:n_test], order[n_test:]
    return TabularData(os.path.basename(path), task, X[train], y[train], X[test], y[test], names, classes, notes)


def load_builtin(name: str, folder: Optional[str] = None, seed: int = 0) -> TabularData:
    """A dataset of :data:`kanlab.datasets.TABULAR_DATASETS` (all classification; any case)."""
    from .datasets import TABULAR_DATASETS, load_tabular

    name = name.lower()
    if name not in TABULAR_DATASETS:
        raise ValueError(f"unknown dataset {name!r}; built-in names are {', '.join(TABULAR_DATASETS)} "
                         "(or give the path of a CSV file)")
    X_train, y_train, X_test, y_test = load_tabular(name, folder=folder, seed=seed)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    return TabularData(name, "classification", X_train.astype(np.float64), y_train, X_test.astype(np.float64),
                       y_test, [f"x{i}" for i in range(X_train.shape[1])], [str(c) for c in range(n_classes)])


# ---------------------------------------------------------------------------------------- models
def mlp(width: Sequence[int], act: Callable[[], nn.Module] = nn.SiLU) -> nn.Sequential:
    """Fully connected ``width[0] -> ... -> width[-1]``, ``act`` (default SiLU) between layers."""
    layers: List[nn.Module] = []
    for i in range(len(width) - 1):
        layers.append(nn.Linear(width[i], width[i + 1]))
        if i < len(width) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def mlp_params(width: Sequence[int]) -> int:
    """Parameter count (weights and biases) of ``mlp(width)``."""
    return sum((a + 1) * b for a, b in zip(width[:-1], width[1:]))


def _mlp_count(n_in: int, h: int, depth: int, n_out: int) -> int:
    return mlp_params([n_in] + [h] * depth + [n_out])


def mlp_width_for_params(n_in: int, n_out: int, n_params: int, depth: int = 2) -> List[int]:
    """Width ``[n_in, h, ..., h, n_out]`` (``depth`` hidden layers) whose parameter count is the
    closest to ``n_params``."""
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    h = 1
    while _mlp_count(n_in, h + 1, depth, n_out) <= n_params:
        h += 1
    if abs(_mlp_count(n_in, h + 1, depth, n_out) - n_params) < abs(_mlp_count(n_in, h, depth, n_out) - n_params):
        h += 1
    return [n_in] + [h] * depth + [n_out]


# ---------------------------------------------------------------------------------------- training
def resolve_batch_size(n_rows: int, opt: str, batch_size: Optional[int]) -> Optional[int]:
    """Rows per step (``None``: full batch). ``batch_size=None`` is automatic: full batch up to
    ``FULL_BATCH_ROWS`` training rows, else ``AUTO_BATCH``; LBFGS is always full batch."""
    if opt == "LBFGS":
        return None
    if batch_size is None:
        return None if n_rows <= FULL_BATCH_ROWS else AUTO_BATCH
    return None if batch_size >= n_rows else int(batch_size)


def describe_budget(data: TabularData, opt: str = "Adam", lr: Optional[float] = None, steps: Optional[int] = None,
                    seconds: Optional[float] = None, batch_size: Optional[int] = None, seed: int = 0) -> str:
    """One line naming the budget :func:`compare` gives each model for these arguments."""
    parts = [f"{steps} steps" if steps else "", f"{seconds:g} s" if seconds else ""]
    budget = " or ".join(p for p in parts if p) or "500 steps"
    lr = lr if lr is not None else default_lr(opt)
    batch = resolve_batch_size(len(data.X_train), opt, batch_size)
    return f"{budget}, {opt} lr {lr:g}, {'full batch' if batch is None else f'batch {batch}'}, seed {seed}"


def compare(data: TabularData, hidden: Sequence[int] = (8,), grid: int = 5, k: int = 3, mlp_depth: int = 2,
            opt: str = "Adam", lr: Optional[float] = None, steps: Optional[int] = None,
            seconds: Optional[float] = None, batch_size: Optional[int] = None, seed: int = 0,
            device: Optional[str] = None) -> List[ModelRun]:
    """Train a KAN ``[d, *hidden, n_out]`` and a parameter-matched MLP (``mlp_depth`` equal hidden
    layers) under the same budget; returns ``[kan_run, mlp_run]``.

    Budget: ``steps`` optimiser steps and/or ``seconds`` of training time each (whichever ends
    first; neither given: 500 steps). Both models use ``opt`` (``"Adam"``, ``"AdamW"`` or
    ``"LBFGS"``), ``lr`` (default 0.01 for Adam, 1.0 for LBFGS), the same mini-batch order
    (``batch_size``; None: see :func:`resolve_batch_size`) and ``seed``. The KAN's grids adapt to the training inputs
    10 times in its first 50 steps (pykan's schedule), inside its budget. Losses: mean squared error
    on the standardised target, or cross-entropy over ``n_classes`` logits.
    """
    if opt not in OPTIMIZERS:
        raise ValueError(f"opt must be one of {OPTIMIZERS}, got {opt!r}")
    if steps is not None and steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps}")
    if seconds is not None and not seconds > 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    max_steps = steps if steps is not None else (10**9 if seconds is not None else 500)
    lr = lr if lr is not None else default_lr(opt)
    dev = torch.device(device or "cpu")
    batch = resolve_batch_size(len(data.X_train), opt, batch_size)
    x_scaler = Standardizer(torch.as_tensor(data.X_train, dtype=torch.float64))
    x_tr = x_scaler.transform(torch.as_tensor(data.X_train, dtype=torch.float64)).float().to(dev)
    x_te = x_scaler.transform(torch.as_tensor(data.X_test, dtype=torch.float64)).float().to(dev)
    if data.task == "regression":
        y_scaler = Standardizer(torch.as_tensor(data.y_train, dtype=torch.float64)[:, None])
        y_tr = y_scaler.transform(torch.as_tensor(data.y_train, dtype=torch.float64)[:, None]).float().to(dev)

        def loss_fn(m: nn.Module, xb: torch.Tensor, yb: torch.Tensor, wb: Optional[torch.Tensor]) -> torch.Tensor:
            return torch.mean((m(xb) - yb) ** 2)

        def predict(m: nn.Module, x: torch.Tensor) -> np.ndarray:
            return y_scaler.inverse(m(x).double().cpu())[:, 0].numpy()
    else:
        y_tr = torch.as_tensor(data.y_train, dtype=torch.long, device=dev)

        def loss_fn(m: nn.Module, xb: torch.Tensor, yb: torch.Tensor, wb: Optional[torch.Tensor]) -> torch.Tensor:
            return nn.functional.cross_entropy(m(xb), yb)

        def predict(m: nn.Module, x: torch.Tensor) -> np.ndarray:
            return m(x).argmax(1).cpu().numpy()

    curve_rows = np.linspace(0, len(data.X_test) - 1, min(len(data.X_test), _CURVE_ROWS)).astype(int)
    d, n_out = data.X_train.shape[1], data.n_outputs
    kan = KAN([d, *hidden, n_out], grid=grid, k=k, seed=seed, device=dev)
    kan_grid = grid_update_hook(kan, x_tr)
    n_params = kan.num_parameters()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mlp_width = mlp_width_for_params(d, n_out, n_params, mlp_depth)
        net = mlp(mlp_width).to(dev)
    runs = []
    for name, model, width, before in (("KAN", kan, kan.width, kan_grid), ("MLP", net, mlp_width, None)):
        def monitor(model: nn.Module = model) -> float:
            return _metrics(data.task, data.y_test[curve_rows], predict(model, x_te[curve_rows]))["primary"]

        every = max(1, max_steps // 100) if steps is not None else (1 if opt == "LBFGS" else 10)
        result = train_module(model, x_tr, y_tr, loss_fn, opt=opt, lr=lr, steps=max_steps, seconds=seconds,
                              batch_size=batch, seed=seed, monitor=monitor, monitor_every=every,
                              before_step=before)
        with torch.no_grad():
            metrics = _metrics(data.task, data.y_test, predict(model, x_te))
            metrics.update({f"train_{k}": v for k, v in _metrics(data.task, data.y_train, predict(model, x_tr)).items()
                            if k != "primary"})
        count = n_params if name == "KAN" else sum(p.numel() for p in model.parameters())
        runs.append(ModelRun(name, list(width), count, result.n_iter, result.seconds, metrics,
                             result.monitor_curve, result.monitor_steps, result.monitor_seconds))
    return runs


def _metrics(task: str, y: np.ndarray, pred: np.ndarray) -> Dict[str, float]:
    """Classification: ``accuracy``; regression: ``rmse`` and ``r2``. ``primary`` is accuracy or RMSE."""
    if task == "classification":
        acc = float(np.mean(pred == y))
        return {"primary": acc, "accuracy": acc}
    rmse = float(np.sqrt(np.mean((pred - y) ** 2)))
    var = float(np.var(y))
    r2 = 1.0 - rmse ** 2 / var if var > 0 else math.nan
    return {"primary": rmse, "rmse": rmse, "r2": r2}


# ---------------------------------------------------------------------------------------- output
def format_table(data: TabularData, runs: Sequence[ModelRun], budget: str = "") -> str:
    """A plain-text report: the data, the budget and one row per model."""
    lines = [f"{data.name}: {data.task}, {len(data.X_train)} train / {len(data.X_test)} test rows, "
             f"{data.X_train.shape[1]} features" + (f", {len(data.classes)} classes" if data.classes else "")]
    lines += [f"  note: {note}" for note in data.notes]
    if budget:
        lines.append(f"budget per model: {budget}")
    if data.task == "classification":
        cols: List[Tuple[str, str]] = [("train acc", "train_accuracy"), ("test acc", "accuracy")]
    else:
        cols = [("test RMSE", "rmse"), ("test R^2", "r2"), ("train R^2", "train_r2")]
    head = f"{'model':<6}{'width':<24}{'params':>8}{'steps':>8}{'train s':>9}" + "".join(f"{c[0]:>11}" for c in cols)
    lines += [head, "-" * len(head)]
    for run in runs:
        row = f"{run.name:<6}{str(run.width):<24}{run.params:>8}{run.steps:>8}{run.seconds:>9.2f}"
        for _, key in cols:
            value = run.metrics[key]
            row += f"{value:>11.4f}" if key != "rmse" else f"{value:>11.4g}"
        lines.append(row)
    return "\n".join(lines)


def plot_comparison(data: TabularData, runs: Sequence[ModelRun], path: str) -> str:
    """Learning curves (test metric vs training seconds and vs steps) of both models to ``path``
    (PNG, or any format matplotlib infers from the suffix). Returns ``path``."""
    from matplotlib.figure import Figure  # no pyplot: the user's backend and figures stay as they are

    metric = "test accuracy" if data.task == "classification" else "test RMSE"
    fig = Figure(figsize=(11, 4))
    axes = fig.subplots(1, 2)
    for run in runs:
        label = f"{run.name} {run.width} ({run.params} params)"
        axes[0].plot(run.curve_seconds, run.curve, label=label)
        axes[1].plot(run.curve_steps, run.curve, label=label)
    for ax, xlabel in zip(axes, ("training time (s)", "optimiser step")):
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric)
        if data.task == "regression":
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle(f"KAN vs parameter-matched MLP on {data.name}")
    fig.tight_layout()
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
