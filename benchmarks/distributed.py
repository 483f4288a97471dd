"""Data-parallel training on CPU: 1 vs 2 processes (gloo), one thread each (issue 16).

Two jobs, each timed on rank 0 from after the process group is up to the end of training:

- *fit*: pykan's ``fit`` (LBFGS, full batch, grid updates) of ``KAN([4, 8, 1])`` on ``--rows``
  rows of a smooth 4-variable function; every rank passes the same data set and ``fit`` shards it
  (:mod:`kanlab.distributed`);
- *plain module*: ``DistributedDataParallel(KAN([784, 64, 10]))`` with Adam on random
  MNIST-shaped batches of 256 rows per rank (the global batch grows with the ranks: the work per
  step per rank is constant, so the ideal is equal time for twice the samples).

    python -m benchmarks.distributed                 # BENCHMARKS.md section
    python -m benchmarks.distributed --rows 4000 --out ""
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel as DDP

from kanlab import KAN

from .common import machine, write_section

SECTION = "## Data-parallel training, 1 vs 2 processes (issue 16)"


def fit_job(rows: int, steps: int) -> tuple:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(rows, 4, generator=gen) * 2 - 1
    y = torch.exp(torch.sin(torch.pi * x[:, :1]) + x[:, 1:2] ** 2) * torch.cos(x[:, 2:3] + x[:, 3:])
    model = KAN([4, 8, 1], grid=5, k=3, seed=0)
    start = time.perf_counter()
    res = model.fit({"train_input": x, "train_label": y}, steps=steps, starts=False, progress=False)
    elapsed = time.perf_counter() - start
    return elapsed, float(res["train_loss"][-1])


def module_job(steps: int) -> tuple:
    model = DDP(KAN([784, 64, 10], grid=5, k=3, seed=0)) if dist.is_initialized() else KAN([784, 64, 10], grid=5, k=3, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(1 + (dist.get_rank() if dist.is_initialized() else 0))
    x, target = torch.rand(256, 784, generator=gen) * 2 - 1, torch.randint(0, 10, (256,), generator=gen)
    start = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), target).backward()
        opt.step()
    return time.perf_counter() - start, float("nan")


def worker(rank: int, world: int, init: str, out: str, rows: int, steps: int, module_steps: int) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=world)
    try:
        times = {"fit": fit_job(rows, steps), "module": module_job(module_steps)}
        if rank == 0:
            torch.save(times, out)
    finally:
        dist.destroy_process_group()


def run(world: int, rows: int, steps: int, module_steps: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "times.pt")
        mp.start_processes(worker, args=(world, os.path.join(tmp, "init"), out, rows, steps, module_steps),
                           nprocs=world, start_method="spawn")
        return torch.load(out, weights_only=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000, help="fit's training rows (all ranks together)")
    parser.add_argument("--steps", type=int, default=10, help="fit's LBFGS steps")
    parser.add_argument("--module-steps", type=int, default=30, help="Adam steps of the plain module")
    parser.add_argument("--out", default="BENCHMARKS.md", help="markdown file to update ('' to skip)")
    args = parser.parse_args()
    one = run(1, args.rows, args.steps, args.module_steps)
    two = run(2, args.rows, args.steps, args.module_steps)
    lines = ["| job | 1 process s | 2 processes s | speed-up | final train RMSE (1 / 2) |", "|---|---|---|---|---|",
             f"| fit: KAN([4, 8, 1]), {args.rows} rows, {args.steps} LBFGS steps | {one['fit'][0]:.2f} | "
             f"{two['fit'][0]:.2f} | {one['fit'][0] / two['fit'][0]:.2f}x | {one['fit'][1]:.2e} / {two['fit'][1]:.2e} |",
             f"| DDP(KAN([784, 64, 10])), Adam, 256 rows per rank, {args.module_steps} steps | {one['module'][0]:.2f} | "
             f"{two['module'][0]:.2f} | {2 * one['module'][0] / two['module'][0]:.2f}x samples/s | |"]
    table = "\n".join(lines)
    print(table)
    if args.out:
        header = (f"Command: `python -m benchmarks.distributed --rows {args.rows} --steps {args.steps}`  \n"
                  f"Machine: {machine()}. gloo on CPU, one thread per process; timed on rank 0 after the "
                  "process group is up. fit shards the rows and averages gradients in every LBFGS "
                  "evaluation; the plain module's global batch doubles with 2 processes (speed-up in "
                  "samples per second).")
        write_section(args.out, SECTION, SECTION + "\n\n" + header + "\n\n" + table + "\n")


if __name__ == "__main__":
    main()
