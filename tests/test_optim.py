"""kanlab.optim.LBFGS: pykan's constructor, torch's iterates, tiny-loss progress, argument checks."""
import pytest
import torch

import kanlab
from kanlab import KAN, LBFGS, create_dataset


def rosenbrock(p: torch.Tensor) -> torch.Tensor:
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


def minimise(opt_cls, steps: int = 5, **kwargs) -> torch.Tensor:
    p = torch.nn.Parameter(torch.tensor([-1.5, 2.0], dtype=torch.float64))
    opt = opt_cls([p], **kwargs)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = rosenbrock(p)
        loss.backward()
        return loss

    for _ in range(steps):
        opt.step(closure)
    return p.detach()


def test_top_level_export_takes_pykans_arguments() -> None:
    """pykan's tutorials build ``LBFGS(params, lr, history_size, line_search_fn, tolerance_grad,
    tolerance_change, tolerance_ys)``; every name of pykan's signature is accepted."""
    assert kanlab.LBFGS is LBFGS and "LBFGS" in kanlab.__all__
    p = minimise(LBFGS, lr=1, max_iter=20, max_eval=None, history_size=10, line_search_fn="strong_wolfe",
                 tolerance_grad=1e-32, tolerance_change=1e-32, tolerance_ys=1e-32)
    torch.testing.assert_close(p, torch.ones(2, dtype=torch.float64), atol=1e-8, rtol=0)
    group = LBFGS([torch.nn.Parameter(torch.zeros(1))], max_iter=8).param_groups[0]
    assert group["max_eval"] == 10 and group["tolerance_ys"] == 1e-32  # pykan's max_eval default


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_same_iterates_as_torch_at_torchs_curvature_threshold(line_search_fn) -> None:
    """With ``tolerance_ys=1e-10`` (torch's fixed threshold) the iterates are torch.optim.LBFGS's."""
    kw = dict(lr=0.5 if line_search_fn is None else 1.0, history_size=10, line_search_fn=line_search_fn)
    ours = minimise(LBFGS, steps=3, tolerance_ys=1e-10, **kw)
    torch.testing.assert_close(ours, minimise(torch.optim.LBFGS, steps=3, **kw), atol=1e-10, rtol=0)


def test_trains_a_kan_as_pykans_tutorials_do() -> None:
    ds = create_dataset(lambda x: x[:, [0]] * x[:, [1]], n_var=2, train_num=64, test_num=16, seed=0)
    model = KAN(width=[2, 2, 1], grid=3, seed=0)
    opt = LBFGS(model.parameters(), lr=1, history_size=10, line_search_fn="strong_wolfe",
                tolerance_grad=1e-32, tolerance_change=1e-32, tolerance_ys=1e-32)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.mean((model(ds["train_input"]) - ds["train_label"]) ** 2)
        loss.backward()
        return loss

    first = float(closure().detach())
    for _ in range(5):
        opt.step(closure)
    assert float(closure().detach()) < 0.1 * first


@pytest.mark.parametrize("kwargs, match", [
    (dict(lr=0), "lr"), (dict(max_iter=0), "max_iter"), (dict(max_eval=0), "max_eval"),
    (dict(history_size=1.5), "history_size"), (dict(tolerance_ys=-1.0), "tolerance_ys"),
    (dict(tolerance_grad=float("nan")), "tolerance_grad"), (dict(line_search_fn="backtracking"), "line_search_fn"),
])
def test_bad_arguments_name_the_parameter(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        LBFGS([torch.nn.Parameter(torch.zeros(1))], **kwargs)


# ---------------------------------------------------------------- the compiled step (fit's closures)
needs_native = pytest.mark.skipif(not kanlab.native.available(), reason="no C compiler: the Python loop runs")


def _fused_problem(mult: bool = False, lamb: float = 0.0, masked: bool = False, seed: int = 0):
    torch.manual_seed(seed)
    x = torch.rand(200, 2, dtype=torch.float64) * 4 - 2
    y = torch.sin(x[:, [0]]) * torch.exp(-x[:, [1]] ** 2)
    model = KAN(width=[2, [4, 2] if mult else 5, 1], grid=4, k=3, seed=seed).double()
    if masked:
        model.layers[0].mask[1, 0] = 0.0
    model.update_grid_from_samples(x)
    return model, x, y, lamb


def _run(problem, native_steps, steps: int = 1, history: int = 10, lr: float = 1.0, max_iter: int = 20):
    """``steps`` LBFGS steps on the compiled closure; step ``i`` runs in C iff ``native_steps[i]``."""
    model, x, y, lamb = problem
    params = [p for p in model.parameters() if p.requires_grad]
    opt = LBFGS(params, lr=lr, history_size=history, max_iter=max_iter, tolerance_grad=1e-32,
                tolerance_change=1e-32, tolerance_ys=1e-32)
    native_now = [False]
    last = []

    def closure() -> torch.Tensor:
        for p in params:
            p.grad = None
        out = kanlab.fused.accumulate(model, x, y, lamb)
        closure.program = out.program if native_now[0] else None
        last[:] = [out.loss, out.reg]
        return out.value

    for i in range(steps):
        native_now[0] = native_steps[i]
        opt.step(closure)
    state = opt.state[params[0]]
    return (torch.cat([p.detach().reshape(-1) for p in params]), torch.cat([p.grad.reshape(-1) for p in params]),
            [float(v) for v in last], state["n_iter"], state["func_evals"], state["loss"])


@needs_native
@pytest.mark.parametrize("mult, lamb, masked", [(False, 0.0, False), (True, 0.0, False), (False, 0.01, True)])
def test_the_compiled_step_takes_the_python_loops_iterates(mult, lamb, masked) -> None:
    """One LBFGS step (20 iterations, the history ring wrapping) run in C lands where the Python
    loop does (float64, same evaluations): parameters, the last evaluation's gradient (in .grad)
    and loss/reg, the iteration and evaluation counts and the accepted loss."""
    native_run = _run(_fused_problem(mult, lamb, masked), [True], history=5)
    python_run = _run(_fused_problem(mult, lamb, masked), [False], history=5)
    torch.testing.assert_close(native_run[0], python_run[0], rtol=0, atol=1e-11)
    torch.testing.assert_close(native_run[1], python_run[1], rtol=1e-8, atol=1e-14)
    assert native_run[2] == pytest.approx(python_run[2], rel=1e-9)
    assert native_run[3:5] == python_run[3:5] and native_run[5] == pytest.approx(python_run[5], rel=1e-9)


@needs_native
def test_the_state_carries_over_between_the_compiled_and_the_python_loop() -> None:
    """Steps alternating between C and Python continue one L-BFGS run (history, direction, step)."""
    mixed = _run(_fused_problem(), [True, False, True], steps=3, max_iter=4)
    python = _run(_fused_problem(), [False, False, False], steps=3, max_iter=4)
    torch.testing.assert_close(mixed[0], python[0], rtol=0, atol=1e-10)
    assert mixed[3:5] == python[3:5]


@needs_native
def test_the_compiled_step_backs_off_from_non_finite_evaluations() -> None:
    """A huge first step overflows the loss: both loops take the penalty, back off and agree."""
    native_run = _run(_fused_problem(), [True], lr=1e200, max_iter=3)
    python_run = _run(_fused_problem(), [False], lr=1e200, max_iter=3)
    assert torch.isfinite(native_run[0]).all()
    torch.testing.assert_close(native_run[0], python_run[0], rtol=0, atol=1e-11)
    assert native_run[3:5] == python_run[3:5]


@needs_native
def test_the_compiled_step_refuses_a_state_that_does_not_fit() -> None:
    """native.lbfgs reads raw memory: a state of the wrong size raises instead."""
    model, x, y, _ = _fused_problem()
    params = [p for p in model.parameters() if p.requires_grad]
    out = kanlab.fused.accumulate(model, x, y)
    n = sum(p.numel() for p in params)
    state = LBFGS._to_native({}, n + 1, 10)
    with pytest.raises(ValueError, match="does not fit"):
        kanlab.native.lbfgs(out.program, params, torch.zeros(n, dtype=torch.float64), state, 5, 10)
