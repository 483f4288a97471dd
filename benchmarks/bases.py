"""Basis families side by side: test RMSE and fit time of each on toy and special functions.

Every basis gets the same coefficient budget per edge (``n_basis`` of B-splines with grid ``G``,
``G + 3``; the others the largest grid/degree with at most that many), the same network shape,
seed and LBFGS steps, and the same schedule: fit, then ``refine`` to the second budget and fit
again (grid extension; a higher degree for the bases without a grid). ``basis="auto"`` is timed
too: its pick and the RMSE after the same schedule.

    python -m benchmarks.bases            # full table (a few minutes per function)
    python -m benchmarks.bases --quick    # the short table written to BENCHMARKS.md

Writes the section "## Basis families (issue 16)" of BENCHMARKS.md (``--out ''`` to skip).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import statistics
import time
import warnings
from typing import Dict, List, Sequence, Tuple

import torch

from benchmarks.common import machine, write_section
from kanlab import KAN
from kanlab.bases_family import BASIS_NAMES, basis_size
from kanlab.datasets.core import create_dataset
from kanlab.datasets.special import special_dataset
from kanlab.datasets.toy import TOY_TITLES, toy_function

TITLE = "## Basis families (issue 16)"
# name -> (title, dataset builder, width)
TOY = ["j0", "expsin", "xy", "4d"]
SPECIAL = ["ellipj", "jv", "lpmv_m1", "sph_harm_m1_n2", "iv"]
QUICK = ["j0", "expsin", "xy", "ellipj", "jv"]
SPECIAL_WIDTH = [2, 3, 1]


def grid_for(basis: str, budget: int, k: int = 3) -> int:
    """The largest grid size (or degree) whose ``n_basis`` is at most ``budget`` (>= 1)."""
    best = 1
    for g in range(1, budget + 1):
        if basis_size(basis, g, k) <= budget:
            best = g
    return best


def dataset_of(name: str, n: int) -> Tuple[str, Dict[str, torch.Tensor], List[int]]:
    """``(title, dataset, width)`` of a toy or special function, ``n`` train and ``n`` test rows."""
    if name in SPECIAL or name not in TOY_TITLES:
        return name, special_dataset(name, train_num=n, test_num=n, seed=0), list(SPECIAL_WIDTH)
    fn, n_var, width = toy_function(name)
    return TOY_TITLES[name], create_dataset(fn, n_var=n_var, train_num=n, test_num=n, seed=0), width


def rmse(model: KAN, ds: Dict[str, torch.Tensor]) -> float:
    with torch.no_grad():
        return float(torch.sqrt(torch.mean((model(ds["test_input"]) - ds["test_label"]) ** 2)))


@contextlib.contextmanager
def quiet():
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def run(basis: str, width: List[int], ds: Dict[str, torch.Tensor], budgets: Sequence[int], steps: int
        ) -> Tuple[List[float], float, str, int]:
    """Fit ``basis`` through the budgets: ``([test RMSE per stage], seconds, picked name, n_basis last)``."""
    start = time.perf_counter()
    first = grid_for("bspline" if basis == "auto" else basis, budgets[0])
    model = KAN(width, grid=first, seed=0, basis=basis)
    errors = []
    with quiet():
        for i, budget in enumerate(budgets):
            if i:
                model.refine(grid_for(model.basis_name, budget))
            model.fit(ds, steps=steps, progress=False)
            errors.append(rmse(model, ds))
    return errors, time.perf_counter() - start, model.basis_name, model.layers[0].n_basis


def fmt(v: float) -> str:
    return "nan" if not math.isfinite(v) else f"{v:.2e}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"functions {','.join(QUICK)}, 20 steps, 500 rows")
    parser.add_argument("--steps", type=int, default=None, help="LBFGS steps per stage (default 100; quick 20)")
    parser.add_argument("--budgets", default="8,13", help="coefficients per edge per stage (default 8,13: "
                        "B-spline grids 5 and 10)")
    parser.add_argument("--functions", default=None, help=f"comma list of {','.join(TOY + SPECIAL)}")
    parser.add_argument("--rows", type=int, default=None, help="train (and test) rows (default 1000; quick 500)")
    parser.add_argument("--no-auto", action="store_true", help="skip basis='auto'")
    parser.add_argument("--out", default="BENCHMARKS.md", help="markdown file to update ('' to skip)")
    args = parser.parse_args()
    steps = args.steps or (20 if args.quick else 100)
    rows = args.rows or (500 if args.quick else 1000)
    names = args.functions.split(",") if args.functions else (QUICK if args.quick else TOY + SPECIAL)
    budgets = [int(b) for b in args.budgets.split(",")]
    bases = list(BASIS_NAMES) + ([] if args.no_auto else ["auto"])

    cmd = "python -m benchmarks.bases" + (" --quick" if args.quick else "")
    for flag, value, default in (("--steps", args.steps, None), ("--budgets", args.budgets, "8,13"),
                                 ("--functions", args.functions, None), ("--rows", args.rows, None)):
        if value != default:
            cmd += f" {flag} {value}"
    cmd += " --no-auto" if args.no_auto else ""
    per_basis = {b: grid_for(b, budgets[0]) for b in BASIS_NAMES}
    header = [TITLE, "", f"Command: `{cmd}`  ",
              f"Machine: {machine()}, float32; {rows} train / {rows} test rows (uniform on each function's "
              f"ranges, seed 0); seed 0; LBFGS {steps} steps per stage (fit's defaults: grid updates where the "
              f"basis has a grid, `starts='auto'`); stages: coefficients per edge {budgets} (first stage: "
              + ", ".join(f"{b} {'G' if b in ('bspline', 'rbf') else 'degree'} {g}" for b, g in per_basis.items())
              + "), `refine` between stages. RMSE = test RMSE after each stage; s = wall seconds for the "
              "whole schedule; `auto` = `basis='auto'` (its 20-step validation run included in its time).", ""]
    print("\n".join(header), flush=True)
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # import torch._dynamo before any timing
    table = ["| function | KAN | basis | coef/edge | " + " | ".join(f"RMSE stage {i + 1}" for i in range(len(budgets)))
             + " | s |", "|---|---|---|---|" + "---|" * len(budgets) + "---|"]
    final: Dict[str, List[float]] = {b: [] for b in bases}
    seconds: Dict[str, float] = {b: 0.0 for b in bases}
    wins: Dict[str, int] = {b: 0 for b in BASIS_NAMES}
    for name in names:
        title, ds, width = dataset_of(name, rows)
        results = {}
        for b in bases:
            errors, secs, picked, n_basis = run(b, width, ds, budgets, steps)
            results[b] = errors
            final[b].append(errors[-1])
            seconds[b] += secs
            label = f"auto ({picked})" if b == "auto" else b
            row = f"| {title} | {width} | {label} | {n_basis} | " + " | ".join(fmt(e) for e in errors) + f" | {secs:.1f} |"
            table.append(row)
            print(row, flush=True)
        best = min(BASIS_NAMES, key=lambda b: results[b][-1] if math.isfinite(results[b][-1]) else math.inf)
        wins[best] += 1
    summary = ["", "Summary over the functions: geometric mean of the final test RMSE, functions where the basis "
               "had the lowest final RMSE (among the five), total seconds.", "",
               "| basis | geo-mean RMSE | best on | s |", "|---|---|---|---|"]
    for b in bases:
        finite = [v for v in final[b] if math.isfinite(v) and v > 0]
        geo = math.exp(statistics.fmean(math.log(v) for v in finite)) if finite else math.nan
        summary.append(f"| {b} | {fmt(geo)} | {wins.get(b, '-')} | {seconds[b]:.0f} |")
    print("\n".join(summary), flush=True)
    if args.out:
        write_section(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), args.out)
                      if not os.path.isabs(args.out) else args.out, TITLE, "\n".join(header + table + summary) + "\n")


if __name__ == "__main__":
    main()
