"""The KAN paper's five toy functions with grid extension: kanlab vs pykan 0.2.8, side by side.

Same data (U[-1, 1], 1000 train / 1000 test, seed 0) for both, same process, same thread count,
same recipe: LBFGS ``--steps`` per grid over ``--grids`` from ``grid=3, k=3``, keeping the best of
``--seeds`` restarts at the first grid by *training* loss (``kanlab.train.best_of_seeds``).
pykan runs with ``speed()`` called after construction and after every ``refine`` (its ``refine``
returns a fresh model with speed mode off, and needs ``save_act`` back on because it reads the
activations that speed mode stops saving). Prints test RMSE and wall time per grid and writes the
tables to BENCHMARKS.md (section "Toy functions").

    python -m benchmarks.toy_functions                 # 200 steps per grid, grids 3..100
    python -m benchmarks.toy_functions --steps 50      # quicker
    python -m benchmarks.toy_functions --no-pykan      # kanlab only
    python -m benchmarks.toy_functions --seeds 0       # no restarts
"""
from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import platform
import time
from typing import Callable, Dict, List, Tuple

import torch

from kanlab import KAN, create_dataset
from kanlab.datasets.toy import TOY_FUNCTIONS, TOY_TITLES
from kanlab.train import best_of_seeds, fit_grid_schedule

from .common import write_section

Target = Callable[[torch.Tensor], torch.Tensor]

FUNCTIONS: Dict[str, Tuple[str, Target, List[int]]] = {
    key: (TOY_TITLES[key], fn, width) for key, (fn, _, width) in TOY_FUNCTIONS.items()
}


def run_schedule(build: Callable[[int], object], refine: Callable, fit_kwargs: dict, dataset, grids: List[int],
                 steps: int, seeds: List[int]) -> Tuple[List[Tuple[float, float]], int]:
    """The recipe :func:`run_kanlab` runs, for pykan (whose ``refine`` returns a new model):
    ``best_of_seeds`` at the first grid (chosen on the training loss), then refine + fit per grid.
    Returns (test RMSE, seconds) per grid, seed."""
    start = time.perf_counter()
    model, res, seed = best_of_seeds(build, dataset, seeds, opt="LBFGS", steps=steps, **fit_kwargs)
    out = [(float(res["test_loss"][-1]), time.perf_counter() - start)]
    for g in grids[1:]:
        start = time.perf_counter()
        model = refine(model, g)
        res = model.fit(dataset, opt="LBFGS", steps=steps, **fit_kwargs)
        out.append((float(res["test_loss"][-1]), time.perf_counter() - start))
    return out, seed


def run_kanlab(width: List[int], dataset, grids: List[int], steps: int,
               seeds: List[int]) -> Tuple[List[Tuple[float, float]], int]:
    """``best_of_seeds`` at the first grid (chosen on the training loss), then ``fit_grid_schedule``
    over the rest without stopping. Returns (test RMSE, seconds) per grid, seed."""
    start = time.perf_counter()
    model, res, seed = best_of_seeds(kan_builder(width, grids[0]), dataset, seeds, opt="LBFGS", steps=steps,
                                     progress=False)
    out = [(float(res["test_loss"][-1]), time.perf_counter() - start)]
    rows = fit_grid_schedule(model, dataset, grids[1:], steps=steps, stop_on_rise=None, opt="LBFGS", progress=False)
    return out + [(float(row["test_loss"]), row["seconds"]) for row in rows], seed


def test_rmse(model: KAN, dataset) -> float:
    with torch.no_grad():
        return torch.sqrt(torch.mean((model(dataset["test_input"]) - dataset["test_label"]) ** 2)).item()


def kan_builder(width: List[int], grid: int) -> Callable[[int], KAN]:
    return lambda seed: KAN(width, grid=grid, k=3, seed=seed)


def run_kanlab_stop(width: List[int], dataset, grids: List[int], steps: int, seeds: List[int]) -> Tuple[float, int]:
    """kanlab's own recipe: the same start, then ``fit_grid_schedule`` (refining stops once the test
    RMSE rises >10% above its best and the best grid is restored). Returns (final test RMSE, grid)."""
    model, _, _ = best_of_seeds(kan_builder(width, grids[0]), dataset, seeds,
                                opt="LBFGS", steps=steps, progress=False)
    fit_grid_schedule(model, dataset, grids[1:], steps=steps, stop_on_rise=0.1, opt="LBFGS", progress=False)
    rmse = test_rmse(model, dataset)
    return rmse, model.grid


SPARSE_SEEDS = list(range(8))


def run_kanlab_sparse(width: List[int], dataset, grids: List[int], steps: int) -> Tuple[float, int, int]:
    """The recipe for the 4-d function: its 1000 samples let a dense [4,4,2,1] fit overfit, so start
    sparse as the KAN paper does: ``lamb=1e-3`` at the first two grids, best of 8 seeds at the first
    grid by training loss, then ``fit_grid_schedule`` without regularisation.
    Returns (final test RMSE, grid, seed)."""
    model, _, seed = best_of_seeds(kan_builder(width, grids[0]), dataset, SPARSE_SEEDS,
                                   opt="LBFGS", steps=steps, lamb=1e-3, progress=False)
    fit_grid_schedule(model, dataset, grids[1:2], steps=steps, stop_on_rise=None, opt="LBFGS", lamb=1e-3, progress=False)
    fit_grid_schedule(model, dataset, grids[2:], steps=steps, stop_on_rise=0.1, opt="LBFGS", progress=False)
    rmse = test_rmse(model, dataset)
    return rmse, model.grid, seed


class _Quiet:
    """Wraps a pykan model so its fit prints nothing; everything else passes through."""

    def __init__(self, model) -> None:
        self.model = model

    def fit(self, dataset, **kwargs):
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return self.model.fit(dataset, **kwargs)


def run_pykan(width: List[int], dataset, grids: List[int], steps: int, seeds: List[int]):
    from kan import KAN as PyKAN  # benchmark-only dependency: pip install pykan==0.2.8

    def build(seed: int) -> _Quiet:
        return _Quiet(PyKAN(width=list(width), grid=grids[0], k=3, seed=seed, auto_save=False).speed())

    def refine(wrapped: _Quiet, g: int) -> _Quiet:
        wrapped.model.save_act = True  # refine reads the activations that speed() stops saving
        return _Quiet(wrapped.model.refine(g).speed())

    return run_schedule(build, refine, {}, dataset, grids, steps, seeds)


def fmt(v: float) -> str:
    return "nan" if not math.isfinite(v) else f"{v:.2e}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200, help="LBFGS steps per grid (default 200)")
    parser.add_argument("--grids", default="3,5,10,20,50,100", help="grid schedule (default 3,5,10,20,50,100)")
    parser.add_argument("--functions", default=",".join(FUNCTIONS), help=f"subset of {','.join(FUNCTIONS)}")
    parser.add_argument("--seeds", default="0,1,2,3", help="restart seeds at the first grid (default 0,1,2,3)")
    parser.add_argument("--no-pykan", action="store_true", help="skip pykan")
    parser.add_argument("--out", default="BENCHMARKS.md", help="markdown file to update ('' to skip)")
    args = parser.parse_args()
    grids = [int(g) for g in args.grids.split(",")]
    names = args.functions.split(",")
    seeds = [int(v) for v in args.seeds.split(",")]
    impls = [("kanlab", run_kanlab)] + ([] if args.no_pykan else [("pykan", run_pykan)])

    header = (f"Command: `python -m benchmarks.toy_functions --steps {args.steps} --grids {args.grids}"
              f"{'' if args.functions == ','.join(FUNCTIONS) else ' --functions ' + args.functions}"
              f"{' --no-pykan' if args.no_pykan else ''} --seeds {args.seeds}`  \n"
              f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads; data: U[-1,1], 1000 train / 1000 test, seed 0; "
              f"float32; LBFGS {args.steps} steps per grid; same recipe for both: at grid {grids[0]} one model "
              f"per seed {args.seeds} is fitted and the lowest *training* loss is kept, then refine + fit per grid; "
              f"test RMSE after each grid; time = wall seconds for that grid (the first includes every seed).\n")
    lines = [f"## Toy functions (KAN paper Sec. 3.1), {args.steps} LBFGS steps per grid", "", header]
    summary = ["", "Summary. *best* = lowest test RMSE anywhere on the schedule; *kanlab final* = the model "
               "`fit_grid_schedule(..., stop_on_rise=0.1)` returns (refining stops when the test RMSE rises, best grid "
               "restored); *pykan final* = its model after the last grid; times are the full schedule for both.", "",
               "| function | shape | kanlab best (G) | pykan best (G) | kanlab final (G) | pykan final | kanlab s | pykan s | time ratio |",
               "|---|---|---|---|---|---|---|---|---|"]
    print(header)
    # the first torch optimiser imports torch._dynamo (~1 s): pay that once, before any timing
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    grand: Dict[str, float] = {}
    for key in names:
        title, f, width = FUNCTIONS[key]
        dataset = create_dataset(f, n_var=width[0], train_num=1000, test_num=1000, seed=0)
        runs = {name: fn(width, dataset, grids, args.steps, seeds) for name, fn in impls}
        rows = {name: r for name, (r, _) in runs.items()}
        chosen = ", ".join(f"{n} seed {runs[n][1]}" for n, _ in impls)
        table = [f"### {title}, KAN {width} (kept: {chosen})", "", "| grid | " + " | ".join(f"{n} RMSE" for n, _ in impls)
                 + " | " + " | ".join(f"{n} s" for n, _ in impls) + " |",
                 "|---" * (1 + 2 * len(impls)) + "|"]
        for i, g in enumerate(grids):
            table.append(f"| {g} | " + " | ".join(fmt(rows[n][i][0]) for n, _ in impls) + " | "
                         + " | ".join(f"{rows[n][i][1]:.1f}" for n, _ in impls) + " |")
        print("\n".join(table), flush=True)
        lines += table + [""]
        best = {n: min(((r, g) for (r, _), g in zip(rows[n], grids)), key=lambda t: t[0] if math.isfinite(t[0]) else 1e9)
                for n, _ in impls}
        total = {n: sum(t for _, t in rows[n]) for n, _ in impls}
        final = run_kanlab_stop(width, dataset, grids, args.steps, seeds)
        pk = "pykan" in rows
        summary.append(
            f"| {title} | {width} | {fmt(best['kanlab'][0])} ({best['kanlab'][1]}) | "
            + (f"{fmt(best['pykan'][0])} ({best['pykan'][1]}) | " if pk else "- | ")
            + f"{fmt(final[0])} ({final[1]}) | " + (f"{fmt(rows['pykan'][-1][0])} | " if pk else "- | ")
            + f"{total['kanlab']:.0f} | " + (f"{total['pykan']:.0f} | {total['kanlab'] / total['pykan']:.2f} |" if pk else "- | - |")
        )
        grand = {n: grand.get(n, 0.0) + total[n] for n in total}
    if "pykan" in grand:
        summary.append(f"| **all** | | | | | | {grand['kanlab']:.0f} | {grand['pykan']:.0f} | "
                       f"{grand['kanlab'] / grand['pykan']:.2f} |")
    if "4d" in names:
        title, f, width = FUNCTIONS["4d"]
        dataset = create_dataset(f, n_var=width[0], train_num=1000, test_num=1000, seed=0)
        start = time.perf_counter()
        rmse, grid, seed = run_kanlab_sparse(width, dataset, grids, args.steps)
        summary += ["", f"4-d recipe (`run_kanlab_sparse`: lamb=1e-3 at grids {grids[0]} and {grids[1]}, best of seeds "
                    f"{SPARSE_SEEDS[0]}..{SPARSE_SEEDS[-1]} by training loss, then `fit_grid_schedule`): kanlab final "
                    f"test RMSE **{fmt(rmse)}** at grid {grid} (seed {seed}), {time.perf_counter() - start:.0f} s."]
    lines += summary
    print("\n".join(summary))
    if args.out:
        write_section(args.out, lines[0], "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
