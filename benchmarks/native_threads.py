"""The compiled loops split over threads: eager training steps on one thread, and on all cores
with the loops serial and with them split, alternating in one process.

``python -m benchmarks.native_threads [--configs a,c,d,e5,e50,b]``: for configs of
``benchmarks/speed.py``, the median eager Adam step (``zero_grad``, MSE forward, backward, step)
on 1 thread, on ``torch.get_num_threads()`` at start (all cores) with kanlab's C basis and weight
passes held to one thread, and on all cores with them split as built (an OpenMP build, see
:func:`kanlab.native.parallel`); ratios to the one-thread step. The three settings alternate
round by round, as run-to-run drift on a shared machine exceeds the differences.
"""
from __future__ import annotations

import argparse
import statistics
from typing import Dict, List, Optional

import torch

from kanlab import native

from .speed import CONFIGS, build, data, make_steps, time_call

SETTINGS = ("1 thread", "all, loops serial", "all, loops split")


def main(argv: Optional[List[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="a,c,d,e5,e50,b", help="comma list of " + ",".join(CONFIGS))
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--reps", type=int, default=5, help="steps timed per round and setting")
    args = ap.parse_args(argv)
    cores = torch.get_num_threads()
    print(f"loops split over threads: {native.parallel()}; all = {cores} threads")
    print("| config | 1 thread ms | all, loops serial ms (/ 1) | all, loops split ms (/ 1) |\n|---|---|---|---|")
    serial = native._threads
    for name in args.configs.split(","):
        widths, batch, grid = CONFIGS[name]
        x, y = data(widths, batch, "cpu")
        step = make_steps(build("kanlab", widths, batch, grid, "cpu"), x, y)[0]
        times: Dict[str, List[float]] = {s: [] for s in SETTINGS}
        try:
            for _ in range(args.rounds):
                for setting in SETTINGS:
                    torch.set_num_threads(1 if setting == "1 thread" else cores)
                    native._threads = (lambda: 1) if setting == "all, loops serial" else serial
                    step(), step()  # after a switch of thread counts
                    times[setting].append(1e3 * time_call(step, args.reps, "cpu"))
        finally:
            native._threads = serial
            torch.set_num_threads(cores)
        one, loops_serial, loops_split = (statistics.median(times[s]) for s in SETTINGS)
        print(f"| {name} | {one:.3g} | {loops_serial:.3g} ({loops_serial / one:.2f}) | "
              f"{loops_split:.3g} ({loops_split / one:.2f}) |", flush=True)


if __name__ == "__main__":
    main()
