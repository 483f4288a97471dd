"""pykan's tutorial workflows, re-expressed in our own code with pykan's spellings: each runs on
kanlab with only the import changed and ends where the tutorial says (issue 14).

The thirteen workflows of ``benchmarks/pykan_workflows.py`` are written once against pykan's API;
``python -m benchmarks.pykan_workflows`` runs them on pykan 0.2.8 and kanlab side by side
(BENCHMARKS.md), and ``test_pykan_workflow`` runs each on kanlab here and checks what its tutorial
shows. The other tests cover further pykan spellings."""
import json
import warnings

import pytest
import torch

from kanlab import KAN, LBFGS, create_dataset
from kanlab.utils import ex_round

from benchmarks.pykan_workflows import WORKFLOWS

#: what each tutorial shows, as a check on the workflow's figure (seed 0)
EXPECTED = {
    "fitting": lambda v: v < 1e-2,            # test RMSE after grids 3 -> 10 (pykan: 2.3e-2)
    "formula": lambda v: v < 1e-3,            # the formula's own test RMSE
    "classification": lambda v: v > 0.95,     # test accuracy on the half moons
    "special_function": lambda v: v > 0.999,  # R² of the user-added J0, ranked best
    "pde": lambda v: v < 0.1,                 # relative L2 after 20 LBFGS steps (pykan: 4.4e-2)
    "continual": lambda v: v < 1e-4,          # the old peaks are kept
    "multiplication": lambda v: v < 1e-5,     # RMSE of the snapped x*y
    "attribution": lambda v: v < 0.1,         # feature scores halve from input to input
    "indexing": lambda v: v == 0,
    "plotting": lambda v: v > 10_000,         # bytes of the saved figure
    "activations": lambda v: v == 0,          # spline_postacts equals act_fun[l](x)'s postacts
    "pruning": lambda v: v <= 2,              # of five hidden nodes at most 2 left (f needs 1; pykan: 3 on seed 0)
    "checkpoint": lambda v: v == 0,           # loaded model equals saved model
}


def test_every_workflow_has_a_check() -> None:
    assert set(EXPECTED) == set(WORKFLOWS)


@pytest.mark.parametrize("name", list(WORKFLOWS))
def test_pykan_workflow(name, tmp_path, monkeypatch) -> None:
    """The workflow written against pykan's API runs on kanlab (as ``lib``) and shows what its
    tutorial shows."""
    import kanlab
    import kanlab.utils
    from kanlab import symbolic_lib

    monkeypatch.chdir(tmp_path)  # checkpoints and figures land here
    monkeypatch.setattr(symbolic_lib, "_LIBRARY", dict(symbolic_lib._library()))  # add_symbolic stays here
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = WORKFLOWS[name].run(kanlab, 0)
    assert EXPECTED[name](result["value"]), f"{name}: {result['shown']}"
    if name == "special_function":
        assert "best J0" in result["shown"]
    if name == "multiplication":
        assert "x_1*x_2" in result["shown"]


def test_function_fitting_workflow_with_pykans_spellings(float64_default) -> None:
    """Tutorial 'hello KAN': float64 default dtype, fit, .item() on the history, refine, partly
    symbolic formula (spline edges count as 0, with a warning)."""
    f = lambda x: torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)  # noqa: E731
    dataset = create_dataset(f, n_var=2, train_num=300, test_num=300)
    assert dataset["train_input"].dtype == torch.float64
    model = KAN(width=[2, 1, 1], grid=3, k=3, seed=0)
    results = model.fit(dataset, opt="LBFGS", steps=20, progress=False)
    assert results["test_loss"][-1].item() < 0.1
    json.dumps({k: v for k, v in results.items()})  # histories stay plain floats
    model = model.refine(5)
    model.fit(dataset, opt="LBFGS", steps=10, progress=False)
    model.fix_symbolic(0, 0, 0, "sin", verbose=False)
    model.fix_symbolic(1, 0, 0, "exp", verbose=False)  # the y edge (0, 1, 0) stays a spline: it counts as 0
    with pytest.warns(UserWarning, match=r"\(0, 1, 0\)"):
        formula = model.symbolic_formula()
    text = str(formula.formulas[0])
    assert "sin" in text and "exp" in text and "y" not in text


def test_activation_inspection_after_get_act() -> None:
    """Tutorial 'interpretability': get_act, get_range, act_fun attributes, spline_postacts."""
    dataset = create_dataset(lambda x: x[:, [0]] * x[:, [1]], n_var=2, train_num=200, test_num=10)
    model = KAN(width=[2, 2, 1], grid=3, k=3, seed=0)
    model.get_act(dataset["train_input"])
    x_min, x_max, y_min, y_max = model.get_range(0, 0, 0, verbose=False)
    x0 = dataset["train_input"][:, 0]
    assert (x_min, x_max) == pytest.approx((float(x0.min()), float(x0.max())))
    layer = model.act_fun[0]
    assert (layer.in_dim, layer.out_dim) == (2, 2) and layer.coef.shape[:2] == (2, 2)
    post = model.spline_postacts[0]
    assert post.shape == (200, 2, 2) and float(post[:, 1, 0].min()) >= y_min - 1e-6


def test_copy_continual_and_pykans_optimizer() -> None:
    """Tutorials 'checkpoints/copy' and 'LBFGS': a copy trains independently; kanlab.LBFGS takes
    pykan's arguments; ex_round rounds a formula's numbers."""
    model = KAN(width=[2, 1], grid=3, k=3, seed=0)
    twin = model.copy()
    opt = LBFGS(twin.parameters(), lr=1, history_size=10, line_search_fn="strong_wolfe",
                tolerance_grad=1e-32, tolerance_change=1e-32, tolerance_ys=1e-32)
    x = torch.rand(64, 2) * 2 - 1
    y = x.sum(1, keepdim=True)

    def closure():
        opt.zero_grad()
        loss = ((twin(x) - y) ** 2).mean()
        loss.backward()
        return loss

    before = closure().item()
    opt.step(closure)
    assert closure().item() < before
    assert not torch.equal(twin.layers[0].coef, model.layers[0].coef)  # the original is untouched
    import sympy

    assert str(ex_round(sympy.sympify("1.23456*x + 0.5"), 2)) == "1.23*x + 0.5"


def test_per_node_attribution_in_pykans_form() -> None:
    """Tutorial 'feature attribution': attribute(l, i) scores the inputs of one node. Node 0 of
    [3, 2, 1] reads only x0 and node 1 only x1 (edges switched off): their rows say so, and
    the rows add up to the whole network's feature scores."""
    dataset = create_dataset(lambda x: x[:, [0]] ** 2 + torch.sin(2 * x[:, [1]]), n_var=3, train_num=300)
    model = KAN(width=[3, 2, 1], grid=3, k=3, seed=0)
    with torch.no_grad():
        model.layers[0].mask.copy_(torch.tensor([[1.0, 0, 0], [0, 1, 0]]))
    model.fit(dataset, steps=10, progress=False)
    whole = model.attribute()
    rows = model.attribute(1)
    assert rows.shape == (2, 3) and torch.equal(model.attribute(1, 0), rows[0])
    assert float(rows[0, 1]) == float(rows[0, 2]) == 0 and float(rows[1, 0]) == float(rows[1, 2]) == 0
    assert torch.allclose(rows.sum(1), whole["node_scores"][1])  # one input per node: its whole score
    assert torch.allclose(rows.sum(0), whole["node_scores"][0])  # the rows add up to the feature scores
    assert model.scores is whole  # the per-node form leaves the whole-network scores alone
    assert torch.allclose(model.attribute(model.depth)[0], whole["node_scores"][0])  # from the output: the feature scores
    with pytest.raises(ValueError, match="node layer index"):
        model.attribute(5)


def test_star_import_gives_what_pykan_tutorials_use() -> None:
    """``from kan import *`` hands pykan's users torch, nn, np and plt; ``from kanlab import *`` too,
    while ``import kanlab`` alone imports no plotting."""
    import subprocess
    import sys

    code = ("import sys, kanlab; assert 'matplotlib.pyplot' not in sys.modules\n"
            "from kanlab import *\n"
            "import numpy, torch as t\n"
            "assert torch is t and nn.Module is t.nn.Module and nn.functional is t.nn.functional and nn.KANConv2d\n"
            "assert np is numpy and plt.__name__ == 'matplotlib.pyplot'\n"
            "assert KAN and create_dataset and LBFGS and ex_round and add_symbolic and 'sin' in SYMBOLIC_LIB\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
