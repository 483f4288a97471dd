"""pykan's multiplication and attribution tutorials, and its regulariser metrics, side by side (issue 14).

kanlab and pykan 0.2.8 run alternately in one process on one thread, on the same data, seeds 0-3:

- *multiplication* (pykan's "Interpretability 1: Hello, MultKAN", float64): f = x·y,
  ``KAN([2, [5, 2], 1], grid=3, k=3, base_fun='identity', seed=s)``, ``fit(steps=20, lamb=0.01,
  lamb_coef=1.0)``, ``prune()``, ``fit(steps=20)``, ``auto_symbolic()``, ``fit(steps=20)``, the
  formula. Shown: what pruning left (hidden sum + product nodes), final RMSE, the formula.
- *attribution* (the feature-attribution tutorial on 100 inputs): f = sum_i 0.5^i x_i,
  ``KAN([100, 10, 10, 1], grid=3, k=3, seed=s)``, ``fit(opt='LBFGS', steps=50, lamb=0.001)``,
  ``attribute()``; with 1000 and with 200 training rows (1000 test rows). Shown: RMSE, the
  feature scores of x0..x2 (ideal ratio 0.5) and the largest score of x8..x99 (ideally ~0).
- *metrics*: ``get_reg`` for pykan's five ``reg_metric`` values on a pykan ``[3, [2, 2], 2]``
  and on kanlab with its weights (pykan's ``saveckpt`` read by ``KAN.loadckpt``).

Columns: *pykan 0.2.8*; *kanlab* (defaults); *kanlab, spline_n* (``reg_metric=
'edge_forward_spline_n'``, pykan's default metric); *kanlab, pykan's step-0 update*
(attribution only: the model marked trained, ``model.fresh = False``, so the grid update before
the first step adapts every layer, as pykan's does; see :func:`kanlab.train.update_grids`).

    python -m benchmarks.pykan_tutorials            # seeds 0-3, about 25 min
    python -m benchmarks.pykan_tutorials --quick    # seed 0, attribution with 200 rows and 20 steps
"""
from __future__ import annotations

import argparse
import os
import time
from typing import Any, Callable, Dict, List

import torch

import kanlab

from .common import machine, sandbox, write_section

SECTION = "## pykan's tutorials side by side: multiplication, attribution, regulariser metrics (issue 14)"
PYKAN_METRICS = kanlab.regularizers.REG_METRICS[1:]
Row = Dict[str, Any]


def _kan_module():
    import kan  # benchmark-only dependency: pip install pykan==0.2.8

    return kan


def _build(impl: str, width: list, seed: int, **options: Any) -> torch.nn.Module:
    if impl == "pykan 0.2.8":
        return _kan_module().KAN(width=width, grid=3, k=3, seed=seed, auto_save=False, **options)
    model = kanlab.KAN(width, grid=3, k=3, seed=seed, **options)
    if impl == "kanlab, pykan's step-0 update":
        model.fresh = False  # as if trained: the first grid update adapts every layer
    return model


def _fit_options(impl: str) -> Dict[str, Any]:
    return {"reg_metric": "edge_forward_spline_n"} if impl == "kanlab, spline_n" else {}


@torch.no_grad()
def _rmse(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float(((model(x) - y) ** 2).mean().sqrt())


def _hidden(impl: str, model: torch.nn.Module) -> str:
    """The hidden layer's ``sum + product`` node counts."""
    spec = model.width[1] if impl == "pykan 0.2.8" else model.config["width"][1]
    n_sum, n_mult = (spec, 0) if isinstance(spec, int) else spec
    return f"{n_sum} + {n_mult}"


def multiplication(impl: str, seed: int, steps: int) -> Row:
    lib = _kan_module() if impl == "pykan 0.2.8" else kanlab
    ds = kanlab.create_dataset(lambda x: x[:, [0]] * x[:, [1]], n_var=2, seed=seed)
    model = _build(impl, [2, [5, 2], 1], seed, base_fun="identity")
    model.fit(ds, steps=steps, lamb=0.01, lamb_coef=1.0, **_fit_options(impl))
    model = model.prune()
    pruned = _hidden(impl, model)
    model.fit(ds, steps=steps)
    model.auto_symbolic()
    model.fit(ds, steps=steps)
    formula = lib.utils.ex_round(model.symbolic_formula()[0][0], 3)
    return {"train": _rmse(model, ds["train_input"], ds["train_label"]),
            "test": _rmse(model, ds["test_input"], ds["test_label"]), "pruned": pruned, "formula": str(formula)}


def attribution(impl: str, seed: int, steps: int, rows: int) -> Row:
    f = lambda x: (x * 0.5 ** torch.arange(100.0)).sum(1, keepdim=True)  # noqa: E731
    ds = kanlab.create_dataset(f, n_var=100, seed=seed, train_num=rows, test_num=1000)
    model = _build(impl, [100, 10, 10, 1], seed)
    model.fit(ds, opt="LBFGS", steps=steps, lamb=0.001, **_fit_options(impl))
    model.attribute()
    score = model.feature_score.detach()
    return {"train": _rmse(model, ds["train_input"], ds["train_label"]),
            "test": _rmse(model, ds["test_input"], ds["test_label"]),
            "scores": ", ".join(f"{float(s):.2f}" for s in score[:3]), "rest": float(score[8:].max())}


def metrics() -> List[str]:
    """pykan's ``get_reg`` against kanlab's on the same weights, one row per metric."""
    kan = _kan_module()
    x = torch.rand(200, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 - 1
    theirs = kan.KAN(width=[3, [2, 2], 2], grid=4, k=3, seed=0, noise_scale=1.0, auto_save=False)
    theirs(x)
    theirs.saveckpt("./pykan")
    ours = kanlab.KAN.loadckpt("./pykan")
    rows = []
    for metric in PYKAN_METRICS:
        theirs(x)
        if metric == "edge_backward":
            theirs.attribute(plot=False)
        if metric == "node_backward":
            theirs.node_attribute()
        a = float(theirs.get_reg(metric, 1.0, 2.0, 0.5, 0.5))
        b = float(ours.get_reg(metric, 1.0, 2.0, 0.5, 0.5, x=x))
        rows.append(f"| {metric} | {a:.10g} | {b:.10g} | {abs(a - b) / abs(a):.1e} |")
    return rows


def _quiet(run: Callable[[], Any], dtype: torch.dtype = torch.float32) -> Any:
    """``run()`` in a fresh folder (pykan writes ./model), output silenced, in default ``dtype``;
    an exception is returned as the result's ``error``."""
    old_dtype = torch.get_default_dtype()
    start = time.perf_counter()
    try:
        with sandbox():
            os.makedirs("model")
            torch.set_default_dtype(dtype)
            result = run()
    except Exception as err:  # a failing run is a result of the comparison
        result = {"error": f"{type(err).__name__}: {str(err)[:60]}"}
    finally:
        torch.set_default_dtype(old_dtype)
    if isinstance(result, dict):
        result["seconds"] = time.perf_counter() - start
    return result


def _cells(row: Row, keys: List[str]) -> str:
    if "error" in row:
        return " | ".join([row["error"]] + [""] * (len(keys) - 1))
    return " | ".join(f"{row[k]:.1e}" if isinstance(row[k], float) else str(row[k]).replace("|", "/") for k in keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="seed 0; attribution with 200 rows and 20 steps")
    parser.add_argument("--out", default="", help="markdown file whose section to update (default: print only)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = [0] if args.quick else [0, 1, 2, 3]
    steps, cases = (20, [200]) if args.quick else (50, [1000, 200])
    impls = ["pykan 0.2.8", "kanlab", "kanlab, spline_n"]
    seconds: Dict[str, float] = {}
    out = [SECTION, "", f"Command: `python -m benchmarks.pykan_tutorials{' --quick' if args.quick else ''}`  ",
           f"Machine: {machine()}. Same data for both libraries (kanlab's `create_dataset`, seed s); "
           "RMSE of the final model; scores: `feature_score` after `attribute()`.", "",
           "Multiplication (x·y), pykan's tutorial settings:", "",
           "| implementation | seed | hidden after prune (sum + product) | train RMSE | test RMSE | formula | s |",
           "|---|---|---|---|---|---|---|"]

    def record(impl: str, seed: int, run: Callable[[], Row], keys: List[str], dtype: torch.dtype) -> None:
        row = _quiet(run, dtype)
        seconds[impl] = seconds.get(impl, 0.0) + row["seconds"]
        out.append(f"| {impl} | {seed} | {_cells(row, keys)} | {row['seconds']:.0f} |")
        print(out[-1], flush=True)

    for seed in seeds:
        for impl in impls:  # alternate, so machine noise hits all alike
            record(impl, seed, lambda: multiplication(impl, seed, 20), ["pruned", "train", "test", "formula"],
                   torch.float64)
    for rows in cases:
        out += ["", f"Attribution, 100 inputs, {rows} training rows, {steps} LBFGS steps, lamb=0.001:", "",
                "| implementation | seed | train RMSE | test RMSE | scores x0, x1, x2 | max score x8..x99 | s |",
                "|---|---|---|---|---|---|---|"]
        for seed in seeds:
            for impl in impls + ["kanlab, pykan's step-0 update"]:
                record(impl, seed, lambda: attribution(impl, seed, steps, rows), ["train", "test", "scores", "rest"],
                       torch.float32)
    out += ["", "Regulariser metrics: `get_reg(metric, 1, 2, 0.5, 0.5)` on the same weights:", "",
            "| reg_metric | pykan 0.2.8 | kanlab | relative difference |", "|---|---|---|---|"]
    table = _quiet(metrics, torch.float64)
    out += [f"| {table['error']} | | | |"] if isinstance(table, dict) else table
    out += ["", "Total time: " + ", ".join(f"{name} {s:.0f} s" for name, s in seconds.items()) + "."]
    text = "\n".join(out)
    print(text)
    if args.out:
        write_section(args.out, SECTION, text)


if __name__ == "__main__":
    main()
