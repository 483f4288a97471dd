"""The pykan workflow's speed: small networks trained with ``fit``, kanlab vs pykan 0.2.8 (issue 15).

Side by side in one process, one thread, the two libraries alternating, same data and steps:

- *mission recipe*: the mission demo's ``KAN([2, 5, 1], grid=3, k=3)`` on 1000 points of
  sin(x)·exp(-y²), LBFGS ``--steps`` steps per grid, grids 3 -> 6 -> 12 -> 24 by ``refine``,
  without (``lamb=0``) and with sparsity (``lamb=0.01, lamb_entropy=2``; pykan without ``speed()``,
  which would drop the regulariser);
- *toy functions*: the KAN paper's exp(sin(pi x)+y²) ``[2, 1, 1]`` and x·y ``[2, 2, 1]`` with the
  same grid schedule (grids 3 -> 5 -> 10);
- *auto_symbolic*: on the mission recipe's model, library x, x², sin, exp, gaussian;
- *one closure*: one loss-and-gradient evaluation of ``[2, 5, 1]`` on 1000 points (median of
  ``--repeats``): kanlab after grid updates (adapted knots) and on a uniform grid, as ``fit``
  evaluates it (the whole network in one compiled pass, :mod:`kanlab.fused`), as ``model(x)``
  plus autograd (the compiled basis loop, :mod:`kanlab.native`), and without a C compiler (the
  eager path), ``fast=False``, pykan, and a *floor*: the same network written as a handful of eager torch operations
  (closed-form cubic B-splines on a uniform grid, one matmul per layer), what any eager
  implementation pays at least.

kanlab's first ``fit`` on a fresh model tries starts (``fit(starts="auto")``); the recipe rows
report it as it runs for users, and ``starts=False`` beside it.

    python -m benchmarks.workflow                  # all rows, BENCHMARKS.md section
    python -m benchmarks.workflow --steps 5 --out ""
"""
from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import time
from typing import Callable, Dict, List

import torch
import torch.nn.functional as F

from kanlab import KAN, create_dataset, fused, native

from .common import machine, sandbox, write_section

SECTION = "## Workflow speed: small networks with fit (issue 15)"


def mission_data(n: int = 1000) -> Dict[str, torch.Tensor]:
    f = lambda x: torch.sin(x[:, [0]]) * torch.exp(-x[:, [1]] ** 2)  # noqa: E731
    return create_dataset(f, n_var=2, ranges=[[-math.pi, math.pi], [-1, 1]], train_num=n, test_num=n, seed=0)


TOYS = {
    "exp(sin(pi x)+y^2) [2,1,1]": ([2, 1, 1], lambda x: torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)),
    "x*y [2,2,1]": ([2, 2, 1], lambda x: x[:, [0]] * x[:, [1]]),
}


def quiet(fn: Callable[[], object]) -> object:
    with sandbox(fresh_folder=False):
        return fn()


def build(lib: str, width: List[int], grid: int, seed: int = 0, **kw) -> torch.nn.Module:
    if lib == "pykan":
        from kan import KAN as PyKAN  # benchmark-only dependency: pip install pykan==0.2.8

        return quiet(lambda: PyKAN(width=width, grid=grid, k=3, seed=seed, auto_save=False, **kw))
    return KAN(width, grid=grid, k=3, seed=seed, **kw)


def recipe(lib: str, width: List[int], dataset, grids: List[int], steps: int, lamb: float,
           starts: object = "auto") -> tuple:
    """Seconds for the grid schedule and the final train RMSE; the model."""
    model = build(lib, width, grids[0])
    extra = {} if lib == "pykan" else {"progress": False, "starts": starts}
    start = time.perf_counter()
    for i, g in enumerate(grids):
        if i:
            model = quiet(lambda: model.refine(g))
            if lib == "pykan":
                model.auto_save = False  # pykan's refine builds a model with its default auto_save=True
        res = quiet(lambda: model.fit(dataset, opt="LBFGS", steps=steps, lamb=lamb, lamb_entropy=2.0, **extra))
    return time.perf_counter() - start, float(res["train_loss"][-1]), model


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def closure_time(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int, whole: bool = False) -> float:
    """Median seconds of one MSE loss-and-gradient evaluation: ``model(x)`` and autograd, or with
    ``whole`` what ``fit`` evaluates (:func:`kanlab.fused.accumulate`, the whole network compiled
    where it applies, gradients written into ``.grad``)."""
    params = [p for p in model.parameters() if p.requires_grad]

    def once() -> None:
        for p in params:
            p.grad = None
        if not whole or fused.accumulate(model, x, y) is None:
            torch.mean((model(x) - y) ** 2).backward()

    return median_seconds(once, repeats)


class FloorKAN(torch.nn.Module):
    """[2, 5, 1] with uniform cubic B-splines and a SiLU base in a handful of eager operations:
    per layer the four non-zero cardinal cubic pieces in closed form, a one-hot scatter into the
    dense basis and one matmul. The floor an eager implementation cannot beat by much."""

    def __init__(self, width: List[int], grid: int) -> None:
        super().__init__()
        self.grid = grid
        self.w = torch.nn.ParameterList(torch.nn.Parameter(0.1 * torch.randn((grid + 3 + 1) * i, o))
                                        for i, o in zip(width[:-1], width[1:]))

    def layer(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        g = self.grid
        s = (x.clamp(-1, 1 - 1e-6) + 1) * (g / 2)  # position in [0, G)
        j = s.detach().floor()
        u = s - j
        b = torch.stack([(1 - u) ** 3 / 6, (3 * u ** 3 - 6 * u ** 2 + 4) / 6,
                         (-3 * u ** 3 + 3 * u ** 2 + 3 * u + 1) / 6, u ** 3 / 6], -1)  # (n, in, 4)
        idx = j.long().unsqueeze(-1) + torch.arange(4)
        dense = x.new_zeros(x.shape[0], x.shape[1], g + 3).scatter(2, idx, b)
        feats = torch.cat([dense, F.silu(x).unsqueeze(-1)], -1).flatten(1)
        return feats @ w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for w in self.w:
            x = self.layer(x, w)
        return x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="LBFGS steps per grid")
    parser.add_argument("--repeats", type=int, default=200, help="closure evaluations timed")
    parser.add_argument("--no-pykan", action="store_true")
    parser.add_argument("--out", default="BENCHMARKS.md", help="markdown file to update ('' to skip)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    libs = ["kanlab"] + ([] if args.no_pykan else ["pykan"])
    data = mission_data()
    rows = ["| workflow | kanlab s | kanlab starts=False s | pykan 0.2.8 s | pykan / kanlab | train RMSE (kanlab / pykan) |",
            "|---|---|---|---|---|---|"]

    def add(name: str, times: Dict[str, float], rmse: Dict[str, float]) -> None:
        ratio = f"{times['pykan'] / times['kanlab']:.1f}x" if "pykan" in times else ""
        cells = [f"{times[k]:.2f}" if k in times else "" for k in ("kanlab", "kanlab-nostarts", "pykan")]
        rows.append(f"| {name} | " + " | ".join(cells) + f" | {ratio} | "
                    + " / ".join(f"{rmse[k]:.1e}" for k in ("kanlab", "pykan") if k in rmse) + " |")
        print(rows[-1], flush=True)

    models = {}
    for lamb in (0.0, 0.01):
        times, rmse = {}, {}
        for lib in libs:
            times[lib], rmse[lib], models[lib, lamb] = recipe(lib, [2, 5, 1], data, [3, 6, 12, 24], args.steps, lamb)
        times["kanlab-nostarts"] = recipe("kanlab", [2, 5, 1], data, [3, 6, 12, 24], args.steps, lamb, starts=False)[0]
        add(f"mission recipe, lamb={lamb:g}" + (", lamb_entropy=2" if lamb else ""), times, rmse)
    for name, (width, f) in TOYS.items():
        toy = create_dataset(f, n_var=2, train_num=1000, test_num=1000, seed=0)
        times, rmse = {}, {}
        for lib in libs:
            times[lib], rmse[lib], _ = recipe(lib, width, toy, [3, 5, 10], args.steps, 0.0)
        times["kanlab-nostarts"] = recipe("kanlab", width, toy, [3, 5, 10], args.steps, 0.0, starts=False)[0]
        add(f"toy {name}, grids 3,5,10", times, rmse)
    times = {}
    for lib in libs:
        model = models[lib, 0.01]
        lib_kw = {"verbose": 0} if lib == "pykan" else {"r2_threshold": 0.0}
        start = time.perf_counter()
        quiet(lambda: model.auto_symbolic(lib=["x", "x^2", "sin", "exp", "gaussian"], **lib_kw))
        times[lib] = time.perf_counter() - start
    add("auto_symbolic (mission model, 5 functions)", times, {})

    x, y = data["train_input"], data["train_label"]
    adapted = KAN([2, 5, 1], grid=5, k=3, seed=0)
    adapted.update_grid_from_samples(x)
    uniform = KAN([2, 5, 1], grid=5, k=3, seed=0)
    closures = {  # name: (model, "fit": fit's evaluation, "module": model(x) + autograd, "eager": no C)
        "kanlab fit's evaluation, adapted grid (after grid updates)": (adapted, "fit"),
        "kanlab fit's evaluation, uniform grid": (uniform, "fit"),
        "kanlab model(x) + autograd, adapted grid (compiled basis loop)": (adapted, "module"),
        "kanlab model(x) + autograd, uniform grid (compiled basis loop)": (uniform, "module"),
        "kanlab, adapted grid, no C compiler": (adapted, "eager"),
        "kanlab, uniform grid, no C compiler": (uniform, "eager"),
        "kanlab fast=False": (KAN([2, 5, 1], grid=5, k=3, seed=0, fast=False), "module"),
        "floor: eager closed-form cubic + matmul": (FloorKAN([2, 5, 1], 5), "module"),
    }
    if "pykan" in libs:
        closures["pykan 0.2.8 (speed())"] = (quiet(lambda: build("pykan", [2, 5, 1], 5).speed()), "module")
    ms = {}
    for name, (m, mode) in closures.items():
        with native.disabled() if mode == "eager" else contextlib.nullcontext():
            ms[name] = 1e3 * closure_time(m, x, y, args.repeats, whole=mode == "fit")
    floor = ms["floor: eager closed-form cubic + matmul"]
    crow = ["| one closure of [2, 5, 1] on 1000 points, G=5 | ms | / floor |", "|---|---|---|"]
    crow += [f"| {name} | {v:.3f} | {v / floor:.1f}x |" for name, v in ms.items()]
    print("\n".join(crow))
    table = "\n".join(rows) + "\n\n" + "\n".join(crow)
    if args.out:
        header = (f"Command: `python -m benchmarks.workflow --steps {args.steps}`  \nMachine: {machine()}. "
                  "Libraries alternate in one process on the same data; kanlab's first `fit` tries starts "
                  "(`starts=\"auto\"`, the default), the starts=False column without.")
        write_section(args.out, SECTION, SECTION + "\n\n" + header + "\n\n" + table + "\n")


if __name__ == "__main__":
    main()
