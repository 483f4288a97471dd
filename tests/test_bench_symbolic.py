"""``benchmarks/symbolic.py`` (the package ``benchmarks``, importable from the repository root:
pyproject's ``pythonpath``): its recipes' transforms reach the data and the recovery check, and
``--seeds`` parsing. The check itself is ``kanlab.recovery`` (tests/test_recovery.py)."""
import pytest
import sympy as sp
import torch

from benchmarks import symbolic as bench

pytest.importorskip("scipy")  # the structure test of the recovery check


def _recipe(formula: str, variables, ranges):
    return bench.Recipe("t", formula, list(variables), list(ranges), [len(variables), 1], ["x"])


@pytest.mark.parametrize("name, fitted", [("none", "x*y"), ("log", "log(x) + log(y)"), ("inverse", "1/(x*y)")])
def test_transforms_reach_the_data_and_the_check(name, fitted):
    r = _recipe("x*y", ["x", "y"], [(1, 2)] * 2)
    r.transform = name
    ds = bench.dataset(r)
    x = ds["train_input"].double()
    want = {"none": x[:, 0] * x[:, 1], "log": torch.log(x[:, 0] * x[:, 1]), "inverse": 1 / (x[:, 0] * x[:, 1])}[name]
    assert torch.allclose(ds["train_label"][:, 0].double(), want, rtol=1e-6)
    expr = sp.sympify(fitted, locals={"x": sp.Symbol("x"), "y": sp.Symbol("y")}) * 1.0001  # as a fit would leave it

    def workflow(recipe, data):
        return expr, 0.0, 1e-6, "[2, 1]"

    res = bench.attempt(workflow, r, ds, seeds=[0])
    assert res["ok"], res  # mapped back to x*y (within 1e-4) before the check
    assert res["err"] < 1e-3


def test_parse_seeds():
    assert bench.parse_seeds("0,1,2") == [0, 1, 2]
    assert bench.parse_seeds("0-3, 7") == [0, 1, 2, 3, 7]
    for bad in ("5-3", "", "0,1,", "-1", "1-2-3", "a"):
        with pytest.raises(ValueError, match="--seeds"):
            bench.parse_seeds(bad)


def test_a_crashed_workflow_is_not_recovered():
    ok, how, err = bench.recovered(None, _recipe("x*y", ["x", "y"], [(1, 2)] * 2))
    assert not ok and how == "" and err == float("inf")


def test_a_refused_edge_reads_as_no_formula_not_a_crash():
    from benchmarks.symbolic import NoFormula, _short

    assert _short(None, f"{NoFormula.__name__}: splines kept at [(0, 0, 1)]").startswith("no formula (")
    assert _short(None, "ValueError: boom").startswith("crash (")
