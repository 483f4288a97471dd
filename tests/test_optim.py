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
