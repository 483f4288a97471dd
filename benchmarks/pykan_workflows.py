"""pykan's tutorial workflows, written once against pykan's API and run on pykan 0.2.8 and kanlab.

Each workflow is our own re-expression of one of pykan's tutorials (function fitting, formulas,
classification, special functions, PDEs, continual learning, multiplication nodes, attribution,
indexing, plotting, activations, regularisation and pruning, checkpoints). It receives the library
as a module (``kan`` or ``kanlab``) and uses only the names pykan users type, so the same code is
the drop-in test: ``tests/test_pykan_compat.py`` runs every workflow on kanlab in CI and asserts
what the tutorial shows; this script runs them on both libraries alternately in one process (one
thread, seeds as given) and writes the side-by-side table to BENCHMARKS.md.

    python -m benchmarks.pykan_workflows                    # every workflow, seeds 0-2, both libraries
    python -m benchmarks.pykan_workflows --only fitting,pde --seeds 0 --out ""

A workflow returns ``{"value": float, "shown": str}``: ``value`` is the figure the tutorial looks
at (lower is better unless the workflow's ``higher`` flag says otherwise), ``shown`` what it prints.
"""
from __future__ import annotations

import argparse
import importlib
import math
import os
import statistics
import time
import types
from typing import Callable, Dict, List, NamedTuple

import torch

from .common import machine, sandbox, write_section

SECTION = "## pykan's tutorial workflows side by side (issue 14)"
Result = Dict[str, object]


class Workflow(NamedTuple):
    run: Callable[[types.ModuleType, int], Result]
    tutorial: str
    figure: str
    higher: bool = False  # is a higher value better?


def _expsin_data(lib: types.ModuleType, n: int = 300, seed: int = 0) -> Dict[str, torch.Tensor]:
    f = lambda x: torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)  # noqa: E731
    return lib.create_dataset(f, n_var=2, train_num=n, test_num=n, seed=seed)


def _rmse(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float(torch.sqrt(torch.mean((model(x) - y) ** 2)))


def fitting(lib: types.ModuleType, seed: int) -> Result:
    """'Hello KAN': fit, refine the grid, fit again; the test RMSE."""
    dataset = _expsin_data(lib)
    model = lib.KAN(width=[2, 5, 1], grid=3, k=3, seed=seed)
    model.fit(dataset, opt="LBFGS", steps=20)
    model = model.refine(10)
    results = model.fit(dataset, opt="LBFGS", steps=20)
    value = results["test_loss"][-1].item()
    return {"value": value, "shown": f"test RMSE {value:.1e}"}


def formula(lib: types.ModuleType, seed: int) -> Result:
    """Symbolic regression: fit [2, 1, 1], auto_symbolic, refit; the formula's own test RMSE."""
    import sympy

    dataset = _expsin_data(lib)
    model = lib.KAN(width=[2, 1, 1], grid=5, k=3, seed=seed)
    model.fit(dataset, opt="LBFGS", steps=20)
    model = model.refine(10)
    model.fit(dataset, opt="LBFGS", steps=20)
    model.auto_symbolic(lib=["x", "x^2", "sin", "exp"])
    model.fit(dataset, opt="LBFGS", steps=20)
    expr = model.symbolic_formula()[0][0]
    x = dataset["test_input"].double()
    names = sorted(expr.free_symbols, key=str)
    fn = sympy.lambdify(names, expr, "numpy")
    columns = {str(s): x[:, int(str(s).split("_")[-1]) - 1].numpy() for s in names}
    pred = torch.as_tensor(fn(*[columns[str(s)] for s in names]), dtype=torch.float64).reshape(-1)
    value = float(torch.sqrt(torch.mean((pred - dataset["test_label"].double().reshape(-1)) ** 2)))
    return {"value": value, "shown": f"{sympy.sstr(expr)[:60]} (formula RMSE {value:.1e})"}


def classification(lib: types.ModuleType, seed: int) -> Result:
    """Two classes (interleaved half moons), cross-entropy on two logits, accuracy metrics."""
    gen = torch.Generator().manual_seed(0)

    def moons(n: int) -> tuple:
        t = torch.rand(n, generator=gen) * math.pi
        label = torch.randint(0, 2, (n,), generator=gen)
        x = torch.stack([torch.cos(t) + label * (1 - 2 * torch.cos(t)),
                         torch.sin(t) * (1 - 2 * label) + label * 0.5], 1)
        return x + 0.1 * torch.randn(n, 2, generator=gen), label

    (x_tr, y_tr), (x_te, y_te) = moons(500), moons(500)
    dataset = {"train_input": x_tr, "train_label": y_tr, "test_input": x_te, "test_label": y_te}
    model = lib.KAN(width=[2, 2], grid=3, k=3, seed=seed)

    def train_acc():
        return torch.mean((torch.argmax(model(dataset["train_input"]), 1) == dataset["train_label"]).float())

    def test_acc():
        return torch.mean((torch.argmax(model(dataset["test_input"]), 1) == dataset["test_label"]).float())

    results = model.fit(dataset, opt="LBFGS", steps=20, metrics=(train_acc, test_acc),
                        loss_fn=torch.nn.CrossEntropyLoss())
    value = float(results["test_acc"][-1])
    return {"value": value, "shown": f"test accuracy {value:.3f}"}


def special_function(lib: types.ModuleType, seed: int) -> Result:
    """A user-added function without autograd derivatives (J0) found by suggest_symbolic."""
    lib.utils.add_symbolic("J0", torch.special.bessel_j0)
    f = lambda x: torch.special.bessel_j0(3 * x[:, [0]] + 1)  # noqa: E731
    dataset = lib.create_dataset(f, n_var=1, train_num=300, test_num=300, seed=seed)
    model = lib.KAN(width=[1, 1], grid=10, k=3, seed=seed)
    model.fit(dataset, opt="LBFGS", steps=20)
    name, _, r2, *_ = model.suggest_symbolic(0, 0, 0, lib=["x", "x^2", "sin", "exp", "J0"], verbose=False)
    value = float(r2)
    return {"value": value, "shown": f"best {name}, R² {value:.4f}"}


def pde(lib: types.ModuleType, seed: int) -> Result:
    """Poisson's equation u_xx + u_yy = f on [-1, 1]², the tutorial's own loop: the library's LBFGS,
    autograd Laplacian, grid updates from the collocation points; relative L2 error."""
    dtype = torch.get_default_dtype()
    exact = lambda x: torch.sin(torch.pi * x[:, [0]]) * torch.sin(torch.pi * x[:, [1]])  # noqa: E731
    source = lambda x: -2 * torch.pi ** 2 * exact(x)  # noqa: E731
    side = torch.linspace(-1, 1, 21, dtype=dtype)
    x_in = torch.cartesian_prod(side, side)
    edge = torch.linspace(-1, 1, 51, dtype=dtype)
    one = torch.ones_like(edge)
    x_bd = torch.cat([torch.stack([edge, -one], 1), torch.stack([edge, one], 1),
                      torch.stack([-one, edge], 1), torch.stack([one, edge], 1)])
    model = lib.KAN(width=[2, 5, 1], grid=5, k=3, seed=seed)
    optimizer = lib.LBFGS(model.parameters(), lr=1, history_size=10, line_search_fn="strong_wolfe",
                          tolerance_grad=1e-32, tolerance_change=1e-32, tolerance_ys=1e-32)

    def loss_fn() -> torch.Tensor:
        x = x_in.clone().requires_grad_(True)
        u = model(x)
        grad = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
        lap = sum(torch.autograd.grad(grad[:, d].sum(), x, create_graph=True)[0][:, d] for d in range(2))
        residual = torch.mean((lap.reshape(-1, 1) - source(x_in)) ** 2)
        boundary = torch.mean((model(x_bd) - exact(x_bd)) ** 2)
        return 0.01 * residual + boundary

    for step in range(20):
        if step % 5 == 0 and step < 15:
            model.update_grid_from_samples(torch.cat([x_in, x_bd]))

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = loss_fn()
            loss.backward()
            return loss

        optimizer.step(closure)
    with torch.no_grad():
        value = float(torch.linalg.norm(model(x_in) - exact(x_in)) / torch.linalg.norm(exact(x_in)))
    return {"value": value, "shown": f"relative L2 {value:.1e}"}


def continual(lib: types.ModuleType, seed: int) -> Result:
    """Five Gaussian peaks shown one at a time to KAN [1, 1] on a 200-interval grid (no base function,
    scales frozen: each coefficient is local); RMSE on peaks 1-4 after learning peak 5."""
    centers = torch.tensor([-0.8, -0.4, 0.0, 0.4, 0.8])
    peaks = lambda x: torch.exp(-300 * (x - centers) ** 2).sum(1, keepdim=True)  # noqa: E731
    x_all = torch.linspace(-1, 1, 1001)[:-1, None]
    segment = ((x_all[:, 0] + 1) * 2.5).floor()  # 5 equal segments of [-1, 1)
    model = lib.KAN(width=[1, 1], grid=200, k=3, seed=seed, noise_scale=0.1, base_fun="zero",
                    sp_trainable=False, sb_trainable=False)
    for phase in range(5):
        x = x_all[segment == phase]
        model.fit({"train_input": x, "train_label": peaks(x), "test_input": x, "test_label": peaks(x)},
                  opt="LBFGS", steps=20, update_grid=False)
    earlier = x_all[segment < 4]
    value = _rmse(model, earlier, peaks(earlier))
    return {"value": value, "shown": f"RMSE on peaks 1-4 after peak 5: {value:.1e}"}


def multiplication(lib: types.ModuleType, seed: int) -> Result:
    """One multiplication node learns x·y; auto_symbolic with x alone gives the product."""
    dataset = lib.create_dataset(lambda x: x[:, [0]] * x[:, [1]], n_var=2, train_num=300, test_num=300, seed=seed)
    model = lib.KAN(width=[2, [0, 1], 1], grid=3, k=3, seed=seed, base_fun="identity")
    model.fit(dataset, opt="LBFGS", steps=20)
    model.auto_symbolic(lib=["x"])
    model.fit(dataset, opt="LBFGS", steps=10)
    value = _rmse(model, dataset["test_input"], dataset["test_label"])
    expr = model.symbolic_formula()[0][0]
    return {"value": value, "shown": f"{lib.utils.ex_round(expr, 3)} (RMSE {value:.1e})"}


def attribution(lib: types.ModuleType, seed: int) -> Result:
    """Output sum_i 0.5^i x_i over 6 inputs: attribute() and feature_score rank the inputs; the
    value is the largest deviation of consecutive score ratios from 0.5."""
    f = lambda x: (x * 0.5 ** torch.arange(6)).sum(1, keepdim=True)  # noqa: E731
    dataset = lib.create_dataset(f, n_var=6, train_num=300, test_num=300, seed=seed)
    model = lib.KAN(width=[6, 3, 1], grid=3, k=3, seed=seed)
    model.fit(dataset, opt="LBFGS", steps=20)
    model.attribute()
    score = model.feature_score.detach()
    ratios = score[1:4] / score[:3]
    value = float((ratios - 0.5).abs().max())
    return {"value": value, "shown": "scores " + ", ".join(f"{float(s):.2f}" for s in score[:4])}


def indexing(lib: types.ModuleType, seed: int) -> Result:
    """act_fun's pykan attributes, remove_edge, fix_symbolic by hand; 0 when the removed edge is
    masked and the fixed edge is named sin in symbolic_fun (1 otherwise)."""
    model = lib.KAN(width=[2, 3, 1], grid=5, k=3, seed=seed)
    layer = model.act_fun[0]
    shapes = (tuple(layer.coef.shape), tuple(layer.scale_base.shape), layer.in_dim, layer.out_dim)
    model.remove_edge(0, 0, 0)
    model.get_act(torch.rand(100, 2) * 2 - 1)
    model.fix_symbolic(0, 1, 2, "sin", fit_params_bool=False, verbose=False)
    name = model.symbolic_fun[0].funs_name[2][1]
    ok = shapes == ((2, 3, 8), (2, 3), 2, 3) and float(model.act_fun[0].mask[0, 0]) == 0 and name == "sin"
    return {"value": 0.0 if ok else 1.0, "shown": f"coef {shapes[0]}, edge 1->2 is {name!r}"}


def plotting(lib: types.ModuleType, seed: int) -> Result:
    """model.plot with names and title after a fit; the figure's size in bytes (higher: drawn)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dataset = _expsin_data(lib)
    model = lib.KAN(width=[2, 3, 1], grid=3, k=3, seed=seed)
    model.fit(dataset, opt="LBFGS", steps=5)
    model.plot(in_vars=["x", "y"], out_vars=["f"], title="expsin")
    plt.savefig("expsin.png")
    plt.close("all")
    value = float(os.path.getsize("expsin.png"))
    return {"value": value, "shown": f"{value / 1e3:.0f} kB"}


def activations(lib: types.ModuleType, seed: int) -> Result:
    """get_act, then pykan's per-edge arrays and get_range; the largest gap between spline_postacts
    (each edge's output) and act_fun[l](x)'s postacts (pykan's 4-tuple: y, preacts, postacts,
    postspline)."""
    dataset = _expsin_data(lib)
    model = lib.KAN(width=[2, 3, 1], grid=3, k=3, seed=seed)
    x = dataset["train_input"]
    model.get_act(x)
    post = model.spline_postacts[0]  # (batch, out, in)
    _, _, postacts, _ = model.act_fun[0](x)
    lo, hi = model.get_range(0, 0, 0, verbose=False)[:2]
    assert tuple(post.shape) == (len(x), 3, 2) and float(lo) < float(hi)
    value = float((post - postacts).abs().max())
    return {"value": value, "shown": f"postacts {tuple(post.shape)}, max gap {value:.1e}"}


def pruning(lib: types.ModuleType, seed: int) -> Result:
    """Sparse fit, prune, refit: how many hidden nodes remain of 5 (f needs 1)."""
    dataset = _expsin_data(lib)
    model = lib.KAN(width=[2, 5, 1], grid=3, k=3, seed=seed)
    model.fit(dataset, opt="LBFGS", steps=20, lamb=0.01)
    model = model.prune()
    results = model.fit(dataset, opt="LBFGS", steps=10)
    hidden = model.width[1]
    hidden = hidden[0] if isinstance(hidden, (list, tuple)) else hidden
    return {"value": float(hidden), "shown": f"width after prune {model.width}, test RMSE "
                                             f"{results['test_loss'][-1].item():.1e}"}


def checkpoint(lib: types.ModuleType, seed: int) -> Result:
    """saveckpt / loadckpt after a fit and a symbolic edge: the largest output difference."""
    dataset = _expsin_data(lib)
    model = lib.KAN(width=[2, 3, 1], grid=3, k=3, seed=seed)
    model.fit(dataset, opt="LBFGS", steps=5)
    model.fix_symbolic(0, 0, 0, "sin", verbose=False)
    model.saveckpt("./mark")
    loaded = lib.KAN.loadckpt("./mark")
    x = dataset["test_input"]
    with torch.no_grad():
        value = float((loaded(x) - model(x)).abs().max())
    return {"value": value, "shown": f"largest output difference {value:.1e}"}


WORKFLOWS: Dict[str, Workflow] = {
    "fitting": Workflow(fitting, "hello KAN: fit, refine, fit", "test RMSE"),
    "formula": Workflow(formula, "symbolic regression", "formula RMSE"),
    "classification": Workflow(classification, "classification", "test accuracy", higher=True),
    "special_function": Workflow(special_function, "special functions (add_symbolic)", "R² of J0", higher=True),
    "pde": Workflow(pde, "PDE (own LBFGS loop)", "relative L2"),
    "continual": Workflow(continual, "continual learning", "RMSE on old peaks"),
    "multiplication": Workflow(multiplication, "multiplication nodes", "RMSE"),
    "attribution": Workflow(attribution, "feature attribution", "largest gap of score ratios from 0.5"),
    "indexing": Workflow(indexing, "indexing, fix_symbolic", "0 = edge is sin"),
    "plotting": Workflow(plotting, "plotting", "figure bytes", higher=True),
    "activations": Workflow(activations, "activations (get_act)", "max gap"),
    "pruning": Workflow(pruning, "regularisation + prune", "hidden nodes left"),
    "checkpoint": Workflow(checkpoint, "checkpoints", "max diff"),
}


def run_workflow(name: str, lib_name: str, seed: int) -> Result:
    """Run one workflow in a fresh temporary folder with its output silenced; the error text and
    ``value`` NaN when the library raises (counted as not run)."""
    lib = importlib.import_module(lib_name)
    importlib.import_module(f"{lib_name}.utils")
    start = time.perf_counter()
    try:
        with sandbox():
            result = WORKFLOWS[name].run(lib, seed)
    except Exception as err:  # a failing workflow is a result of the comparison
        result = {"value": float("nan"), "shown": f"{type(err).__name__}: {str(err)[:80]}"}
    result["seconds"] = time.perf_counter() - start
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(WORKFLOWS), help="comma-separated workflow names")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--no-pykan", action="store_true")
    parser.add_argument("--out", default="BENCHMARKS.md", help="markdown file to update ('' to skip)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = args.only.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    libs = ["kanlab"] + ([] if args.no_pykan else ["kan"])
    rows = ["| workflow | figure | kanlab (median) | kanlab shows (seed 0) | kanlab s | pykan 0.2.8 (median) | "
            "pykan shows (seed 0) | pykan s | runs (kanlab / pykan) |", "|---" * 9 + "|"]
    for name in names:
        got: Dict[str, List[Result]] = {lib: [] for lib in libs}
        for seed in seeds:
            for lib in libs:
                got[lib].append(run_workflow(name, lib, seed))
                print(f"{name} seed {seed} {lib}: {got[lib][-1]['shown']} ({got[lib][-1]['seconds']:.1f} s)", flush=True)
        cells = []
        for lib in ("kanlab", "kan"):
            res = got.get(lib)
            if not res:
                cells += ["", "", ""]
                continue
            ok = [float(r["value"]) for r in res if not math.isnan(float(r["value"]))]
            median = f"{statistics.median(ok):.3g}" if ok else "fails"
            cells += [median, str(res[0]["shown"]).replace("|", "/"), f"{statistics.median(r['seconds'] for r in res):.1f}"]
        runs = " / ".join(f"{sum(not math.isnan(float(r['value'])) for r in got[lib])} of {len(seeds)}" for lib in libs)
        wf = WORKFLOWS[name]
        rows.append(f"| {name}: {wf.tutorial} | {wf.figure}{' (higher is better)' if wf.higher else ''} | "
                    + " | ".join(cells) + f" | {runs} |")
    table = "\n".join(rows)
    print(table)
    if args.out:
        header = (f"Command: `python -m benchmarks.pykan_workflows --seeds {args.seeds}`  \n"
                  f"Machine: {machine()}. Each workflow is written once against pykan's API "
                  "(`benchmarks/pykan_workflows.py`) and run on each library with the same data and seed, "
                  "alternating, one thread, in a fresh folder; *runs*: seeds that ran without an error.")
        write_section(args.out, SECTION, SECTION + "\n\n" + header + "\n\n" + table + "\n")


if __name__ == "__main__":
    main()
