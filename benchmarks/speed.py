"""Side-by-side speed and memory of KAN implementations, as ratios measured in one run.

    python -m benchmarks.speed                      # all configs, 1 thread, CPU
    python -m benchmarks.speed --threads 0          # all threads
    python -m benchmarks.speed --device cuda        # on a GPU
    python -m benchmarks.speed --thread-scaling     # 1 thread against all, alternating (CPU)

Implementations (rows): kanlab's fast path eager and under ``torch.compile``, kanlab's reference
path (``fast=False``), pykan 0.2.8 after ``speed()``, inkan 0.5.2 (``torch.compile``d basis, one
packed matmul), an MLP of the same widths (SiLU), and the *dense bound*: per layer one matmul
``(batch, in * (grid + k)) x (in * (grid + k), out)`` on a fixed basis plus its backward (the
first layer's basis needs no gradient, as a KAN's first layer needs none for its input) and an
Adam step on those weights, which no dense-basis KAN layer can beat.

Timing: every implementation is built and warmed up first (compilation included), then rounds
run round-robin (each round times ``--reps`` steps of every implementation in turn) and the
median over rounds is kept, so machine noise hits all rows alike; ratios are to the bound.
A training step is ``zero_grad + MSE forward + backward + Adam.step``; inference is a forward
under ``torch.no_grad``.

Peak memory: each implementation runs in a fresh subprocess that builds the model, takes one
warm-up step, then measures the peak *increase* over the steady state during 2 more steps. On
CPU that is the peak resident set size (``VmHWM`` after resetting it through
``/proc/self/clear_refs``) with glibc's mmap threshold fixed at 64 KiB so freed buffers go back
to the OS; on CUDA it is ``torch.cuda.max_memory_allocated``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

CONFIGS: Dict[str, Tuple[List[int], int, int]] = {  # name: (widths, batch, grid)
    "a": ([784, 64, 10], 256, 5),
    "b": ([2, 5, 1], 1000, 5),
    "c": ([256, 256, 256], 1024, 5),
    "d": ([4, 16, 16, 1], 4096, 20),
    "e5": ([4, 16, 16, 1], 4096, 5),
    "e50": ([4, 16, 16, 1], 4096, 50),
    "e100": ([4, 16, 16, 1], 4096, 100),
    "e200": ([4, 16, 16, 1], 4096, 200),
}
K = 3
IMPLS = ["bound", "kanlab", "kanlab+compile", "kanlab-ref", "pykan", "inkan", "mlp"]


class DenseBound(nn.Module):
    """One fixed-basis matmul per layer: the cost floor of a dense-basis KAN layer."""

    def __init__(self, widths: List[int], batch: int, grid: int, device: str) -> None:
        super().__init__()
        nb = grid + K
        gen = torch.Generator().manual_seed(0)
        self.w = nn.ParameterList(
            nn.Parameter(torch.randn(widths[i + 1], widths[i] * nb, generator=gen).to(device) * 0.01)
            for i in range(len(widths) - 1)
        )
        self.basis = [
            torch.rand(batch, widths[i] * nb, generator=gen).to(device).requires_grad_(i > 0)
            for i in range(len(widths) - 1)
        ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([(b @ w.T).mean() for b, w in zip(self.basis, self.w)]).sum().expand(x.shape[0], 1)


def build(impl: str, widths: List[int], batch: int, grid: int, device: str) -> nn.Module:
    """The model of one implementation (on ``device``, float32)."""
    if impl == "bound":
        return DenseBound(widths, batch, grid, device)
    if impl in ("kanlab", "kanlab+compile", "kanlab-ref"):
        from kanlab import KAN

        model = KAN(widths, grid=grid, k=K, seed=0, fast=impl != "kanlab-ref", device=device)
        if impl == "kanlab+compile":
            model.compile()  # torch.compile in place, with kanlab's options for these shapes
        return model
    if impl == "pykan":
        from kan import KAN as PyKAN

        model = PyKAN(width=list(widths), grid=grid, k=K, seed=0, auto_save=False, device=device)
        model.speed()
        return model
    if impl == "inkan":
        from inkan import KANNetwork

        return KANNetwork(list(widths), grid_size=grid, spline_order=K).to(device)
    if impl == "mlp":
        layers: List[nn.Module] = []
        for i in range(len(widths) - 1):
            layers += [nn.Linear(widths[i], widths[i + 1]), nn.SiLU()]
        return nn.Sequential(*layers[:-1]).to(device)
    raise ValueError(f"unknown implementation {impl!r}")


def make_steps(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Tuple[Callable[[], None], Callable[[], None]]:
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def train() -> None:
        opt.zero_grad(set_to_none=True)
        out = model(x)
        F.mse_loss(out, y[:, : out.shape[1]]).backward()
        opt.step()

    def infer() -> None:
        with torch.no_grad():
            model(x)

    return train, infer


def data(widths: List[int], batch: int, device: str) -> Tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    x = (torch.rand(batch, widths[0], generator=gen) * 2 - 1).to(device)
    y = torch.randn(batch, widths[-1], generator=gen).to(device)
    return x, y


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_call(fn: Callable[[], None], reps: int, device: str) -> float:
    sync(device)
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    sync(device)
    return (time.perf_counter() - t) / reps


def available(impl: str) -> Optional[str]:
    """None if ``impl`` can run here, else the reason."""
    mod = {"pykan": "kan", "inkan": "inkan"}.get(impl)
    if mod is None:
        return None
    try:
        __import__(mod)
    except Exception as err:  # noqa: BLE001 - any import failure means "not installed here"
        return f"{mod} not importable ({type(err).__name__})"
    return None


def run_config(name: str, impls: List[str], rounds: int, reps: int, device: str, budget_s: float) -> Dict[str, Dict]:
    widths, batch, grid = CONFIGS[name]
    x, y = data(widths, batch, device)
    fns: Dict[str, Tuple[Callable[[], None], Callable[[], None]]] = {}
    out: Dict[str, Dict] = {}
    for impl in impls:
        reason = available(impl)
        if reason:
            out[impl] = {"skipped": reason}
            continue
        t0 = time.perf_counter()
        try:
            train, infer = make_steps(build(impl, widths, batch, grid, device), x, y)
            train(), train(), infer(), infer()  # warm-up, compilation included
            sync(device)
        except Exception as err:  # noqa: BLE001 - a failing peer is reported, the run goes on
            out[impl] = {"skipped": f"failed: {type(err).__name__}: {str(err)[:120]}"}
            continue
        out[impl] = {"warmup_s": time.perf_counter() - t0, "train": [], "infer": []}
        fns[impl] = (train, infer)
    for r in range(rounds):
        for impl, (train, infer) in fns.items():
            res = out[impl]
            if r > 0 and sum(res["train"]) * reps > budget_s:  # a slow peer: fewer rounds, same protocol
                continue
            res["train"].append(time_call(train, reps, device))
            res["infer"].append(time_call(infer, reps, device))
    for res in out.values():
        if "train" in res:
            res["train_ms"] = 1e3 * statistics.median(res.pop("train"))
            res["infer_ms"] = 1e3 * statistics.median(res.pop("infer"))
    return out


# ---------------------------------------------------------------- peak memory (subprocess)
def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_child(impl: str, name: str, device: str) -> None:
    widths, batch, grid = CONFIGS[name]
    x, y = data(widths, batch, device)
    train, _ = make_steps(build(impl, widths, batch, grid, device), x, y)
    train()
    sync(device)
    if device.startswith("cuda"):
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        train(), train()
        sync(device)
        peak = torch.cuda.max_memory_allocated() - base
    else:
        import gc

        gc.collect()
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the peak RSS (VmHWM) to the current RSS
        base = _rss_kib("VmRSS")
        train(), train()
        peak = (_rss_kib("VmHWM") - base) * 1024
    print(json.dumps({"peak_bytes": peak}))


def measure_memory(impl: str, name: str, device: str, threads: int) -> Optional[float]:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", OMP_NUM_THREADS=str(max(threads, 1)))
    cmd = [sys.executable, "-m", "benchmarks.speed", "--memory-child", impl, name, "--device", device,
           "--threads", str(threads)]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # where `benchmarks` is a package
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800, cwd=root)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)["peak_bytes"] / 2**20
    sys.stderr.write(f"memory run {impl}/{name} failed:\n{proc.stderr[-2000:]}\n")
    return None


def profile(name: str, impls: List[str], device: str, steps: int = 10) -> None:
    """Where a training step's time goes: torch.profiler's top operators per implementation."""
    from torch.profiler import ProfilerActivity, profile as torch_profile

    widths, batch, grid = CONFIGS[name]
    x, y = data(widths, batch, device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
    for impl in impls:
        train, _ = make_steps(build(impl, widths, batch, grid, device), x, y)
        for _ in range(3):
            train()
        sync(device)
        with torch_profile(activities=activities) as prof:
            for _ in range(steps):
                train()
            sync(device)
        print(f"\n### {impl} on {name}: {steps} training steps\n")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12, max_name_column_width=60))


def thread_scaling(names: List[str], impls: List[str], rounds: int, reps: int, threads: int) -> None:
    """Training steps on 1 thread and on ``threads`` threads, alternating in one process (run to
    run drift on a shared machine exceeds the difference): a markdown table of medians, printed
    row by row."""
    print(f"| config | implementation | 1 thread ms | {threads} threads ms | {threads} / 1 |\n|---|---|---|---|---|")
    for name in names:
        widths, batch, grid = CONFIGS[name]
        x, y = data(widths, batch, "cpu")
        for impl in impls:
            if available(impl):
                continue
            train, _ = make_steps(build(impl, widths, batch, grid, "cpu"), x, y)
            times: Dict[int, List[float]] = {1: [], threads: []}
            for n in times:  # warm-up (compilation) on both
                torch.set_num_threads(n)
                train(), train()
            for _ in range(rounds):
                for n in times:
                    torch.set_num_threads(n)
                    train()
                    times[n].append(time_call(train, reps, "cpu"))
            one, many = (1e3 * statistics.median(times[n]) for n in (1, threads))
            print(f"| {name} | {impl} | {one:.3g} | {many:.3g} | {many / one:.2f} |", flush=True)


# ---------------------------------------------------------------- report
def table(name: str, res: Dict[str, Dict], mem: Dict[str, Optional[float]]) -> str:
    widths, batch, grid = CONFIGS[name]
    bound = res["bound"]
    lines = [
        f"**{name}**: widths {widths}, batch {batch}, grid {grid}, k {K}",
        "",
        "| implementation | train step ms | train / bound | infer ms | infer / bound | peak train MiB | warm-up s |",
        "|---|---|---|---|---|---|---|",
    ]
    for impl, r in res.items():
        if "skipped" in r:
            lines.append(f"| {impl} | skipped: {r['skipped']} | | | | | |")
            continue
        m = mem.get(impl)
        lines.append(
            f"| {impl} | {r['train_ms']:.3g} | {r['train_ms'] / bound['train_ms']:.2f} | {r['infer_ms']:.3g} | "
            f"{r['infer_ms'] / bound['infer_ms']:.2f} | {'' if m is None else f'{m:.3g}'} | {r['warmup_s']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default=",".join(CONFIGS), help="comma list of " + ",".join(CONFIGS))
    ap.add_argument("--impls", default=",".join(IMPLS), help="comma list of " + ",".join(IMPLS))
    ap.add_argument("--threads", type=int, default=1, help="torch threads (0: all cores)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--reps", type=int, default=3, help="steps timed per round")
    ap.add_argument("--budget", type=float, default=20.0, help="seconds per implementation and config")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--memory-configs", help="measure peak memory only on these configs (default: all)")
    ap.add_argument("--json", help="also write raw results here")
    ap.add_argument("--profile", metavar="CONFIG", help="instead: torch.profiler table of --impls' training steps")
    ap.add_argument("--thread-scaling", action="store_true",
                    help="instead: 1 thread against --threads (default all cores) alternating, CPU")
    ap.add_argument("--memory-child", nargs=2, metavar=("IMPL", "CONFIG"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    # every config is a new shape for the compiled rows: without this dynamo stops compiling
    # after 8 of them and silently runs them eagerly
    torch._dynamo.config.recompile_limit = 256
    if args.memory_child:
        memory_child(*args.memory_child, args.device)
        return
    impls = args.impls.split(",")
    if args.profile:
        profile(args.profile, impls, args.device)
        return
    if args.thread_scaling:
        many = args.threads if args.threads > 1 else (os.cpu_count() or 1)
        print(f"torch {torch.__version__}, cpu, 1 vs {many} threads alternating, {args.rounds} rounds x {args.reps} steps, medians")
        thread_scaling(args.configs.split(","), impls, args.rounds, args.reps, many)
        return
    header = (
        f"torch {torch.__version__}, device {args.device}"
        + (f" ({torch.cuda.get_device_name()})" if args.device.startswith("cuda") else "")
        + f", {threads} thread(s), {args.rounds} rounds x {args.reps} steps, medians"
    )
    print(header, flush=True)
    report = {}
    for name in args.configs.split(","):
        res = run_config(name, impls, args.rounds, args.reps, args.device, args.budget)
        mem: Dict[str, Optional[float]] = {}
        if not args.no_memory and (args.memory_configs is None or name in args.memory_configs.split(",")):
            for impl in impls:
                if "skipped" not in res[impl]:
                    mem[impl] = measure_memory(impl, name, args.device, threads)
        report[name] = {"results": res, "memory_mib": mem}
        print("\n" + table(name, res, mem) + "\n", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"header": header, "configs": report}, fh, indent=1)


if __name__ == "__main__":
    main()
