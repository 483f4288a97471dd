"""Claim 4: the Poisson PINN. KAN [2,10,1] vs MLP [2,100,100,100,1], relative L2 error and wall time.

Problem: ``u_xx + u_yy = f`` on [-1, 1]^2, exact ``u = sin(pi x) sin(pi y)``, ``u = 0`` on the
boundary; loss ``alpha * mean(residual^2) + mean(boundary^2)`` on the same collocation points for
both models (float64). The KAN runs :func:`kanlab.pde.solve_poisson` (LBFGS with grid extension;
forward-mode Laplacian); the MLP (tanh) runs Adam then LBFGS, as is customary for PINNs, for the
KAN's wall time. Also measured: the cost of one loss-and-gradient evaluation per model and
Laplacian method. Prints a table and writes ``## 4. Poisson PINN`` of CLAIMS.md.

    OMP_NUM_THREADS=1 taskset -c 0 .venv/bin/python -m benchmarks.claims_pde [--quick] [--out '']
"""
from __future__ import annotations

import argparse
import math
import time
from typing import Dict, List

import torch
from torch import nn

from kanlab import KAN
from kanlab.optim import LBFGS
from kanlab.pde import PoissonLoss, mesh, relative_l2, sample_boundary, sample_interior, solve_poisson
from kanlab.loop import train_loop

from . import common

PI = math.pi
D = torch.float64
PYKAN_PRIOR = "pykan 0.2.8 [2,10,1]: rel-L2 6.6e-3 after 150 s (29 LBFGS steps), measured earlier on this machine"


def exact(x: torch.Tensor) -> torch.Tensor:
    return torch.sin(PI * x[:, 0]) * torch.sin(PI * x[:, 1])


def source(x: torch.Tensor) -> torch.Tensor:
    return -2 * PI**2 * exact(x)


def settings(quick: bool) -> Dict:
    """The KAN recipe (chosen by the experiments listed in the report) and the point counts."""
    common_kw = dict(grid_eps=1.0, grid_update_num=1, alpha=0.01)
    if quick:
        return dict(grids=(5, 10), steps=(15, 20), n_interior=400, n_boundary=100, n_test=51, restarts=2,
                    seeds=(0,), **common_kw)
    return dict(grids=(5, 10, 20), steps=(20, 30, 50), n_interior=900, n_boundary=200, n_test=101, restarts=3,
                seeds=(0, 1, 2), **common_kw)


def run_kan(cfg: Dict, seed: int, k: int) -> Dict:
    start, cpu = time.perf_counter(), time.process_time()
    model, hist = solve_poisson(source, exact, width=[2, 10, 1], grids=cfg["grids"], steps=cfg["steps"],
                                n_interior=cfg["n_interior"], n_boundary=cfg["n_boundary"], n_test=cfg["n_test"],
                                alpha=cfg["alpha"], grid_update_num=cfg["grid_update_num"], seed=seed, dtype=D,
                                grid_eps=cfg["grid_eps"], k=k, restarts=cfg["restarts"])
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    params = sum(l.coef.numel() + l.scale_base.numel() + l.scale_spline.numel() for l in model.layers)
    return {"model": f"KAN [2,10,1], k={k}, seed {seed} (kept {hist['seed']})", "k": k, "seed": seed,
            "params": params, "seconds": seconds, "cpu": cpu,
            "rel_l2": hist["rel_l2"][-1], "best_rel_l2": min(hist["rel_l2"]), "steps": len(hist["loss"]),
            "trace": [(s["grid"], s["rel_l2"], s["seconds"]) for s in hist["stages"]]}


def run_mlp(cfg: Dict, seed: int, budget_s: float, adam_frac: float = 0.3) -> Dict:
    """tanh MLP [2,100,100,100,1]: Adam (lr 1e-3) for ``adam_frac`` of the budget, then LBFGS.
    The budget is process CPU time (one thread): on a shared machine wall time varies with load."""

    torch.manual_seed(seed)
    model = common.mlp([2, 100, 100, 100, 1], act=nn.Tanh).to(D)
    x_in = sample_interior(cfg["n_interior"], method="grid", seed=seed, dtype=D)
    x_bd = sample_boundary(cfg["n_boundary"], method="grid", seed=seed, dtype=D)
    loss = PoissonLoss(x_in, x_bd, source, exact, alpha=cfg["alpha"], method="autograd")
    x_test = mesh(cfg["n_test"], dtype=D)
    start, cpu = time.perf_counter(), time.process_time()
    budget = dict(steps=10**9, clock=time.process_time, progress=False)  # steps: until the CPU-time budget ends
    adam = train_loop(model, lambda: loss(model), opt="Adam", lr=1e-3, seconds=adam_frac * budget_s, **budget)
    lbfgs = LBFGS(list(model.parameters()), lr=1.0, history_size=50, tolerance_grad=1e-32, tolerance_change=1e-32)
    rest = train_loop(model, lambda: loss(model), opt=lbfgs, seconds=max(budget_s - (time.process_time() - cpu), 0.0),
                      **budget)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"model": "MLP [2,100,100,100,1] tanh", "params": common.mlp_params([2, 100, 100, 100, 1]),
            "seconds": seconds, "cpu": cpu, "rel_l2": relative_l2(model, exact, x_test), "best_rel_l2": math.nan,
            "steps": f"{adam.n_iter} Adam + {rest.n_iter} LBFGS"}


def eval_costs(cfg: Dict, repeats: int = 10) -> List[Dict]:
    """CPU milliseconds per loss-and-gradient evaluation (the unit of every optimiser step), side by side."""
    x_in = sample_interior(cfg["n_interior"], method="grid", dtype=D)
    x_bd = sample_boundary(cfg["n_boundary"], method="grid", dtype=D)
    kan = KAN([2, 10, 1], grid=cfg["grids"][-1], k=5, seed=0, dtype=D)
    torch.manual_seed(0)
    mlp = common.mlp([2, 100, 100, 100, 1], act=nn.Tanh).to(D)
    cases = [("KAN, forward-mode Laplacian", kan, PoissonLoss(x_in, x_bd, source, exact, method="forward")),
             ("KAN, nested autograd", kan, PoissonLoss(x_in, x_bd, source, exact, method="autograd")),
             ("MLP, nested autograd", mlp, PoissonLoss(x_in, x_bd, source, exact, method="autograd"))]
    times: Dict[str, List[float]] = {name: [] for name, _, _ in cases}
    for _ in range(repeats):  # round robin: load on the machine hits every case alike
        for name, model, loss in cases:
            t = time.process_time()
            loss(model).backward()
            times[name].append(time.process_time() - t)
    return [{"case": name, "ms": 1e3 * sorted(v)[len(v) // 2]} for name, v in times.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller recipe (under 2 minutes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=common.CLAIMS, help="markdown file to update ('' to skip)")
    args = parser.parse_args()
    cfg = settings(args.quick)
    costs = eval_costs(cfg)
    cubic = run_kan(cfg, args.seed, k=3)
    # disjoint restart blocks: seed s tries s*restarts .. s*restarts + restarts - 1
    quintic = [run_kan(cfg, (args.seed + s) * cfg["restarts"], k=5) for s in cfg["seeds"]]
    kan = quintic[0]
    mlp = run_mlp(cfg, args.seed, budget_s=kan["cpu"])
    mlp_long = run_mlp(cfg, args.seed, budget_s=20.0 if args.quick else 60.0)  # the target's whole budget
    mlp_long["model"] += f", {mlp_long['cpu']:.0f} s"
    rows = [cubic, *quintic, mlp, mlp_long]
    n_met = sum(r["rel_l2"] <= 1e-4 and r["cpu"] <= 60 for r in quintic)
    target_met = n_met == len(quintic)
    errors = ", ".join(f"{r['rel_l2']:.1e}" for r in quintic)
    cpus = ", ".join(f"{r['cpu']:.0f}" for r in quintic)
    lines = ["| model | params | steps | CPU time (s) | wall time (s) | rel-L2 |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['params']} | {r['steps']} | {r['cpu']:.1f} | {r['seconds']:.1f} | "
                     f"{r['rel_l2']:.2e} |")
    lines.append("| pykan 0.2.8 [2,10,1] (prior measurement, not rerun) | | 29 LBFGS | | 150 | 6.6e-3 |")
    cost_lines = ["| evaluation (loss + gradient) | CPU ms |", "|---|---|"]
    cost_lines += [f"| {c['case']} | {c['ms']:.1f} |" for c in costs]
    trace = "; ".join(f"k={r['k']}, seed {r['seed']}: " + ", ".join(f"G={g}: {e:.2e} at {s:.0f} s"
                                                                   for g, e, s in r["trace"]) for r in (cubic, *quintic))
    kan_vs_mlp = kan["rel_l2"] / mlp["rel_l2"]
    verdict = (
        f"{'holds' if target_met else 'partly holds' if n_met else 'does not hold here'} for the 1e-4-in-60-s "
        f"target with quintic splines: {n_met} of {len(quintic)} seeds (k=5: rel-L2 {errors} in {cpus} s CPU); pykan's cubic splines (k=3) stall near "
        f"{cubic['rel_l2']:.1e} (a cubic spline's second derivative is only piecewise linear, leaving an "
        f"oscillating residual). Against the MLP at the same CPU time the k=5 KAN's rel-L2 is {kan_vs_mlp:.2g}x "
        f"the MLP's ({kan_vs_mlp ** 2:.2g}x in mean squared error, the paper's measure) with {kan['params']} vs "
        f"{mlp['params']} parameters ({mlp['params'] / kan['params']:.0f}x fewer; paper: ~100x); "
        f"against pykan's prior 6.6e-3 in 150 s it is {6.6e-3 / kan['rel_l2']:.2g}x lower in "
        f"{kan['seconds'] / 150:.2g}x the wall time. The paper's '100x more accurate (1e-7 vs 1e-5 MSE)' "
        f"{'holds' if kan_vs_mlp ** 2 <= 0.01 else 'partly holds' if kan_vs_mlp < 1 else 'does not hold'} here "
        f"at matched time (MSE ratio {1 / kan_vs_mlp ** 2:.0f}x); the MLP given {mlp_long['cpu']:.0f} s reaches "
        f"{mlp_long['rel_l2']:.2e}."
    )
    if args.quick:
        verdict = "(--quick: a smaller recipe than the target's, grids up to 10 only) " + verdict
    print("\n".join(lines))
    print("\n".join(cost_lines))
    print("KAN stages:", trace)
    print("verdict:", verdict)
    cmd = "OMP_NUM_THREADS=1 taskset -c 0 .venv/bin/python -m benchmarks.claims_pde" + (" --quick" if args.quick else "")
    text = f"""## 4. Poisson PINN

**Claim** (KAN paper Sec. 3.4; issue 5): a 2-layer width-10 KAN solves 2-d Poisson ~100x more accurately
than a 4-layer width-100 MLP with ~100x fewer parameters. Target here: KAN [2,10,1] rel-L2 <= 1e-4 within
60 s on one core ({PYKAN_PRIOR}).

**Setup**: `u_xx + u_yy = f` on [-1,1]^2, exact `u = sin(pi x) sin(pi y)`, `u = 0` on the boundary; loss
`0.01 * mean(residual^2) + mean(boundary^2)` on {cfg['n_interior']} interior (cell-centred grid) and
{cfg['n_boundary']} boundary points, float64, one thread ({common.machine()}; the machine was shared with other
jobs, so times are noisy). KAN: `kanlab.pde.solve_poisson`, grids {cfg['grids']} with {cfg['steps']} LBFGS steps
(pykan's 20 inner iterations, strong Wolfe) per grid, uniform grids (`grid_eps=1`) re-placed over the
collocation points once at the start of each stage, forward-mode Laplacian; spline order k=3 (pykan's) and
k=5; {cfg['restarts']} starts (seeds s, s+1, ...) on the first grid, the one with the lowest PINN loss continued
(`solve_poisson(restarts=...)`; the loss, not the exact solution, chooses). k=5 from seeds {[(args.seed + s) * cfg['restarts'] for s in cfg['seeds']]} (disjoint blocks of starts). MLP: tanh, Adam (lr 1e-3) for 30% of the first k=5 KAN's CPU time,
then LBFGS (history 50) for the rest (budgets in process CPU time, one thread: wall time varied with the load);
a second MLP run gets the target's whole budget (60 s CPU; 20 s with --quick).
KAN params count spline coefficients and both scales. rel-L2 on a {cfg['n_test']}x{cfg['n_test']} mesh including the boundary.

{chr(10).join(lines)}

KAN error after each grid (wall-clock seconds): {trace}.

Cost of one loss-and-gradient evaluation (median of 10, round robin; KAN k=5, grid {cfg['grids'][-1]}):

{chr(10).join(cost_lines)}

**Verdict**: {verdict}

Seed {args.seed}. Command: `{cmd}`.
"""
    if args.out:
        common.write_section(args.out, "## 4. Poisson PINN", text, header=common.CLAIMS_HEADER)
        print(f"wrote ## 4. Poisson PINN to {args.out}")


if __name__ == "__main__":
    main()
