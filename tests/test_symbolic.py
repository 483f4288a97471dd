"""Symbolic edges: the affine fit, fix/unfix/suggest/auto_symbolic, training and checkpoints."""
import json
import math
import warnings

import pytest
import torch

from kanlab import KAN, create_dataset, symbolic_lib
from kanlab.symbolic import fit_affine, rank_functions

X = torch.linspace(-2, 2, 400, dtype=torch.float64)


@pytest.mark.parametrize("name, y", [
    ("sin", 2 * torch.sin(3 * X + 0.5) - 1),
    ("sin", 0.5 * torch.sin(25 * X)),  # narrow optimum: a far outside pykan's default a_range grid density
    ("exp", 0.3 * torch.exp(1.7 * X) + 2),
    ("log", torch.log(2 * X + 5)),
    ("1/x", 1 / (X + 2.5)),
    ("gaussian", torch.exp(-(4 * X - 1) ** 2)),
    ("x^2", (X - 0.3) ** 2),
    ("sqrt", torch.sqrt(X + 2.2)),
    ("tan", torch.tan(0.7 * X)),
    ("arcsin", torch.arcsin(0.4 * X)),
])
def test_fit_affine_recovers_the_function(name, y) -> None:
    fit = fit_affine(X, y, name)
    assert fit.r2 > 1 - 1e-8, fit
    from kanlab.symbolic_lib import get_symbolic

    a, b, c, d = fit.params
    assert torch.allclose(c * get_symbolic(name)(a * X + b) + d, y, atol=1e-5 * float(y.abs().max()))


def test_fit_affine_is_canonical_for_powers_and_exp() -> None:
    fit = fit_affine(X, 3 * (2 * X + 1) ** 2, "x^2")
    assert abs(fit.a) == 1.0 and math.isclose(fit.c, 12, rel_tol=1e-6) and math.isclose(fit.b, 0.5, rel_tol=1e-6)
    fit = fit_affine(X, torch.exp(1.5 * X + 2), "exp")
    assert fit.b == 0.0 and math.isclose(fit.c, math.exp(2), rel_tol=1e-6)


def test_fit_affine_degenerate_inputs_do_not_crash() -> None:
    fit = fit_affine(X, torch.full_like(X, 3.0), "sin")  # constant target
    assert math.isfinite(fit.d) and fit.r2 <= 1e-6
    assert fit_affine(X, X, "0").r2 == 0.0
    with pytest.raises(ValueError, match="same number"):
        fit_affine(X, X[:10], "sin")
    with pytest.raises(ValueError, match="unknown symbolic function"):
        fit_affine(X, X, "sine")


def test_rank_prefers_the_true_function() -> None:
    rows = rank_functions(X, torch.sin(2 * X + 1), lib=["x", "x^2", "sin", "exp", "tanh"])
    assert rows[0][0].name == "sin"


def test_rank_prefers_an_exact_fit_to_a_simpler_near_miss() -> None:
    # on [-1, 1], -cos(2.24 x) = sin(2.24 x - pi/2) matches exp(-x^2) up to 1 - R^2 = 2e-5;
    # under pykan's 1e-5 floor its lower complexity won
    x = torch.linspace(-1, 1, 500, dtype=torch.float64)
    rows = rank_functions(x, 3 * torch.exp(-x ** 2) + 0.5, lib=["x", "x^2", "sin", "gaussian"])
    assert rows[0][0].name == "gaussian"
    assert rows[1][0].name == "sin" and rows[1][0].r2 > 0.9999


@pytest.fixture()
def trained_sin(fitted):
    return fitted("one_sine_edge")[:2]


def test_suggest_symbolic_one_edge_and_table(trained_sin, capsys) -> None:
    model, _ = trained_sin
    name, fun, r2, complexity = model.suggest_symbolic(0, 0, 0, lib=["x", "x^2", "sin", "exp"], topk=3)
    assert name == "sin" and r2 > 0.999 and complexity == 2 and callable(fun)
    assert "sin" in capsys.readouterr().out
    table = model.suggest_symbolic(lib=["x", "sin", "exp"], verbose=False)
    assert [(r["l"], r["i"], r["j"], r["name"]) for r in table] == [(0, 0, 0, "sin")]
    with pytest.raises(ValueError, match="all of l, i, j"):
        model.suggest_symbolic(0, 0)


def test_the_table_names_what_auto_symbolic_fixes(fitted) -> None:
    """suggest_symbolic()'s table and auto_symbolic share their candidates: '0' only for edges with
    a small attribution score, so the table cannot list '0' where auto_symbolic fits a curve."""
    model = fitted("sparse_three_inputs")[0]
    lib = ["x", "x^2", "sin", "exp"]
    rows = [r for r in model.suggest_symbolic(lib=lib, verbose=False) if r["l"] == 0]
    table = {(r["i"], r["j"]): r["name"] for r in rows if r["fix"]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fixed = {(r["i"], r["j"]): r["name"] for r in model.auto_symbolic(lib=lib, layers=[0], verbose=False)}
    assert table == fixed and len(rows) == 15
    kept = [(r["i"], r["j"]) for r in rows if not r["fix"]]  # below R^2 0.9: both say "stays a spline"
    assert all(r["r2"] < 0.9 for r in rows if not r["fix"]) and bool(kept) == bool(caught)
    assert all(f"(0,{i},{j})" in str(caught[0].message) for i, j in kept)
    assert "0" in fixed.values() and set(fixed.values()) - {"0"}  # dead edges -> 0, live ones -> a curve


def test_a_switched_off_edge_is_not_fitted_silently(fitted) -> None:
    model = fitted("sin_of_x0")[0]
    model.remove_edge(0, 1, 0)
    for call in (lambda: model.suggest_symbolic(0, 1, 0, verbose=False),
                 lambda: model.fix_symbolic(0, 1, 0, "sin", verbose=False)):
        with pytest.raises(ValueError, match=r"edge \(0,1,0\) is switched off"):
            call()
    model.fix_symbolic(0, 1, 0, "sin", fit_params_bool=False, verbose=False)  # explicitly: allowed
    assert model.symbolic[0].active[0, 1]


def test_fix_unfix_and_bad_edges(trained_sin) -> None:
    model, ds = trained_sin
    x = ds["test_input"]
    before = model(x).detach()
    r2 = model.fix_symbolic(0, 0, 0, "sin", verbose=False)
    assert r2 > 0.999 and model.symbolic[0].n_active == 1 and model.layers[0].mask[0, 0] == 0
    assert torch.allclose(model(x), before, atol=0.02)
    model.unfix_symbolic(0, 0, 0)
    assert torch.equal(model(x), before)  # the spline was kept
    with pytest.raises(IndexError, match="input node i=3"):
        model.fix_symbolic(0, 3, 0, "sin")
    with pytest.raises(IndexError, match="layer l=2"):
        model.fix_symbolic(2, 0, 0, "sin")
    with pytest.raises(ValueError, match="unknown symbolic function"):
        model.fix_symbolic(0, 0, 0, "sine")
    with pytest.raises(ValueError, match="leaves its domain"):
        model.fix_symbolic(0, 0, 0, "x*0 + sqrt(-1 - x**2)")


def test_fix_without_data_or_fit() -> None:
    model = KAN([1, 1], seed=0)
    with pytest.raises(ValueError, match="no data"):
        model.fix_symbolic(0, 0, 0, "sin")
    model.fix_symbolic(0, 0, 0, "sin", fit_params_bool=False, verbose=False)
    x = torch.linspace(-1, 1, 5).reshape(-1, 1)
    assert torch.allclose(model(x), torch.sin(x))


def _two_var():
    ds = create_dataset(lambda x: torch.exp(torch.sin(math.pi * x[:, [0]]) + x[:, [1]] ** 2), n_var=2, seed=0)
    model = KAN([2, 1, 1], grid=5, seed=0)
    model.fit(ds, opt="LBFGS", steps=40, progress=False)
    return model, ds


def test_auto_symbolic_then_fit_trains_affine_params_without_nan() -> None:
    model, ds = _two_var()
    fixed = model.auto_symbolic(lib=["x", "x^2", "sin", "exp", "log", "1/x", "sqrt", "tan"], verbose=False)
    assert sorted(r["name"] for r in fixed) == ["exp", "sin", "x^2"]
    model.speed()  # must not undo anything
    assert sum(s.n_active for s in model.symbolic) == 3
    before = model.symbolic[0].affine.detach().clone()
    res = model.fit(ds, opt="LBFGS", steps=20, progress=False)
    assert all(math.isfinite(v) for v in res["train_loss"])
    assert res["train_loss"][-1] < 1e-3
    assert not torch.equal(model.symbolic[0].affine, before)  # the affine parameters are trained
    res = model.fit(ds, opt="Adam", lr=1e-2, steps=20, progress=False, update_grid=False)
    assert all(math.isfinite(v) for v in res["train_loss"])


def test_zero_is_only_used_for_negligible_edges() -> None:
    ds = create_dataset(lambda x: torch.sin(math.pi * x[:, [0]]), n_var=2, seed=0)
    model = KAN([2, 1], grid=5, seed=0)
    model.fit(ds, opt="LBFGS", steps=30, lamb=0.01, progress=False)
    fixed = {(r["i"]): r["name"] for r in model.auto_symbolic(verbose=False)}
    assert fixed[0] in ("sin", "cos")  # c*cos(a*x + b) with b = -pi/2 is the same function
    assert fixed[1] not in ("sin", "cos")
    x = ds["test_input"]
    assert (model(x) - ds["test_label"]).abs().max() < 0.05  # the snapped edge is the target


def test_symbolic_state_roundtrips_through_checkpoints(tmp_path) -> None:
    model, ds = _two_var()
    model.fix_symbolic(0, 0, 0, "sin", verbose=False)
    model.fix_symbolic(0, 1, 0, "x^2 + 0*x", verbose=False)  # a sympy-string entry
    model.saveckpt(tmp_path / "m.ckpt")
    loaded = KAN.loadckpt(tmp_path / "m.ckpt")
    x = ds["test_input"]
    assert loaded.symbolic[0].names[0] == ["sin", "x^2 + 0*x"]
    assert torch.equal(loaded(x), model(x))
    payload = torch.load(tmp_path / "m.ckpt", weights_only=True)
    stored = payload["state"]["symbolic.0._extra_state"]  # plain UTF-8 JSON bytes: {name: [j * in + i]}
    assert json.loads(bytes(stored.tolist())) == {"sin": [0], "x^2 + 0*x": [1]}


def test_symbolic_edges_follow_dtype_changes() -> None:
    model = KAN([1, 2], seed=0)
    model.fix_symbolic(0, 0, 1, "exp", fit_params_bool=False, verbose=False)
    x = torch.linspace(-1, 1, 4, dtype=torch.float64).reshape(-1, 1)
    y = model.to(torch.float64)(x)
    assert y.dtype == torch.float64 and torch.isfinite(y).all()


def test_auto_symbolic_layers_restricts_snapping() -> None:
    model, _ = _two_var()
    fixed = model.auto_symbolic(lib=["x", "exp", "tanh"], layers=[1], verbose=False)
    assert [(r["l"], r["name"]) for r in fixed] == [(1, "exp")]
    assert model.symbolic[0].n_active == 0 and model.layers[0].mask.sum() == 2
    with pytest.raises(IndexError, match="layer 5"):
        model.auto_symbolic(layers=[5], verbose=False)


@pytest.mark.slow
def test_recovers_exp_sin_formula_exactly() -> None:
    """The workflow recovers exp(sin(pi x) + y^2) up to constants within 1e-2 (sympy check)."""
    import sympy as sp

    ds = create_dataset(lambda x: torch.exp(torch.sin(math.pi * x[:, [0]]) + x[:, [1]] ** 2), n_var=2, seed=0)
    model = KAN([2, 1, 1], grid=5, seed=0)
    model.fit(ds, opt="LBFGS", steps=100, lamb=1e-3, progress=False)
    model.refine(10)
    model.fit(ds, opt="LBFGS", steps=100, progress=False)
    model.auto_symbolic(lib=["x", "x^2", "sin", "exp"], verbose=False)
    model.fit(ds, opt="LBFGS", steps=50, progress=False, update_grid=False)
    (expr,), (x, y) = model.symbolic_formula(var=["x", "y"])
    snapped = expr.xreplace({f: (sp.pi if abs(float(f) - math.pi) < 1e-2 * math.pi else
                                 sp.Integer(round(float(f))) if abs(float(f) - round(float(f))) < 1e-2 * max(1, abs(float(f)))
                                 else f) for f in expr.atoms(sp.Float)})
    snapped = snapped.xreplace({f: 0 for f in snapped.atoms(sp.Float) if abs(float(f)) < 2e-3})
    assert sp.simplify(snapped - sp.exp(sp.sin(sp.pi * x) + y ** 2)) == 0, expr


def test_state_dicts_without_symbolic_entries_still_load() -> None:
    model = KAN([2, 3, 1], seed=0)
    old_style = {k: v for k, v in model.state_dict().items() if not k.startswith("symbolic.")}
    fresh = KAN([2, 3, 1], seed=1)
    fresh.fix_symbolic(0, 0, 0, "sin", fit_params_bool=False, verbose=False)
    fresh.load_state_dict(old_style)  # strict: the symbolic entries default to "none active"
    x = torch.rand(4, 2)
    assert fresh.symbolic[0].n_active == 0 and torch.equal(fresh(x), model(x))


def test_fit_with_sparsity_after_auto_symbolic() -> None:
    model, ds = _two_var()
    model.auto_symbolic(lib=["x", "x^2", "sin", "exp"], verbose=False)
    res = model.fit(ds, opt="LBFGS", steps=5, lamb=0.01, progress=False)
    assert all(math.isfinite(v) for v in res["train_loss"]) and res["reg"][-1] > 0


def test_num_parameters_counts_only_active_symbolic_edges() -> None:
    model = KAN([2, 1], grid=5, k=3, seed=0)
    base = model.num_parameters()
    assert base == 2 * (5 + 3) + 2 * 2  # coef per edge plus scale_base and scale_spline
    model.fix_symbolic(0, 0, 0, "sin", fit_params_bool=False, verbose=False)
    assert model.num_parameters() == base + 4  # a, b, c, d of the one symbolic edge


def test_compiled_forward_needs_no_eager_warmup(tmp_path) -> None:
    # the symbolic groups are rebuilt eagerly wherever edges change, so a compiled forward never
    # builds them (that was a data-dependent .nonzero() inside the graph). fast=False: this checks
    # the symbolic layers, not the fast spline kernels' own compile support
    model = KAN([2, 3, 1], grid=3, seed=0, fast=False)
    model.fix_symbolic(0, 1, 2, "sin", fit_params_bool=False, verbose=False)
    model.fix_symbolic(1, 2, 0, "x*exp(-x)", fit_params_bool=False, verbose=False)
    x = torch.rand(8, 2)
    expected = model(x)
    model.saveckpt(tmp_path / "m")
    for fresh in (model, KAN.loadckpt(tmp_path / "m")):
        torch._dynamo.reset()
        compiled = torch.compile(fresh, fullgraph=True, backend="eager")  # raises on any graph break
        torch.testing.assert_close(compiled(x), expected)
    model.unfix_symbolic(0, 1, 2)
    torch._dynamo.reset()
    torch.testing.assert_close(torch.compile(model, fullgraph=True, backend="eager")(x), model(x))


def test_every_trainable_parameter_gets_a_gradient() -> None:
    # DDP's default settings fail on a trainable parameter that receives no gradient: an inactive
    # symbolic layer must not hold one, an active one must train its affine parameters
    def params_without_grad(model: KAN) -> list:
        model.zero_grad(set_to_none=True)
        model(torch.rand(6, model.width[0])).square().sum().backward()
        return [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]

    model = KAN([2, [2, 1], 1], grid=3, seed=0)
    assert params_without_grad(model) == []
    model.fix_symbolic(1, 0, 0, "sin", fit_params_bool=False, verbose=False)
    assert model.symbolic[1].affine.requires_grad and not model.symbolic[0].affine.requires_grad
    assert params_without_grad(model) == [] and model.symbolic[1].affine.grad[0, 0].abs().sum() > 0
    fresh = KAN(**model.config)
    fresh.load_state_dict(model.state_dict())
    assert [s.affine.requires_grad for s in fresh.symbolic] == [False, True]
    model.unfix_symbolic(1, 0, 0)
    assert params_without_grad(model) == [] and not model.symbolic[1].affine.requires_grad


def test_auto_symbolic_refuses_poor_fits_by_default_and_says_so(fitted) -> None:
    """sin(pi x) on [-1, 1] by a line or a parabola: R^2 well below 0.9, so the spline stays and a
    warning names the edge; with pykan's r2_threshold=0 the poor fit is taken, as pykan does."""
    model, ds = fitted("one_sine_edge")[:2]
    before = model(ds["test_input"]).detach()
    with pytest.warns(UserWarning, match=r"kept 1 edge\(s\) as splines.*\(0,0,0\) best x\^?2? R\^2 0\.\d+"):
        fixed = model.auto_symbolic(lib=["x", "x^2"], verbose=False)
    assert fixed == [] and model.symbolic[0].n_active == 0 and model.layers[0].mask[0, 0] == 1
    assert torch.equal(model(ds["test_input"]), before)  # nothing changed
    with pytest.raises(ValueError, match="still splines"):
        model.symbolic_formula(strict=True)
    fixed = model.auto_symbolic(lib=["x", "x^2"], verbose=False, r2_threshold=0.0)
    assert len(fixed) == 1 and fixed[0]["r2"] < 0.9
    with pytest.raises(ValueError, match="r2_threshold"):
        model.auto_symbolic(lib=["x"], r2_threshold=float("nan"))
    model.unfix_symbolic(0, 0, 0)
    assert [r["name"] for r in model.auto_symbolic(lib=["x", "sin"], verbose=False)] == ["sin"]  # no warning


def test_search_ranges_bound_the_fit() -> None:
    """pykan's a_range/b_range: a grid over them, refinement inside them."""
    y = 2 * torch.sin(3 * X + 0.5) - 1
    fit = fit_affine(X, y, "sin", a_range=(0, 5), b_range=(0, 1))
    assert fit.r2 > 1 - 1e-10 and math.isclose(fit.a, 3, rel_tol=1e-6) and math.isclose(fit.b, 0.5, rel_tol=1e-6)
    narrow = fit_affine(X, y, "sin", a_range=(-2, 2))  # b_range: pykan's (-10, 10)
    assert narrow.r2 < 0.9 and abs(narrow.a) <= 2 + 1e-9 and abs(narrow.b) <= 10 + 1e-9
    assert fit_affine(X, 0.5 * torch.sin(25 * X), "sin").r2 > 1 - 1e-8  # default: unbounded
    for bad in ((3, 1), (0, math.inf), (1, 1)):
        with pytest.raises(ValueError, match="a_range must be a pair"):
            fit_affine(X, y, "sin", a_range=bad)
    for bad in ((1,), "ab", (0, True), ["x", "sin"]):
        with pytest.raises(TypeError, match="b_range must be a pair.*pass lib by name"):
            fit_affine(X, y, "sin", b_range=bad)


def test_suggest_symbolic_takes_pykans_positional_arguments(trained_sin, capsys) -> None:
    model, _ = trained_sin
    # pykan's order: l, i, j, a_range, b_range, lib, topk, verbose
    name, _, r2, _ = model.suggest_symbolic(0, 0, 0, (-10, 10), (-10, 10), ["x", "x^2", "sin"], 2, False)
    assert name == "sin" and r2 > 0.999 and capsys.readouterr().out == ""
    name, _, r2, _ = model.suggest_symbolic(0, 0, 0, a_range=(-1, 1), lib=["x", "x^2", "sin"], verbose=False)
    assert r2 < 0.999  # sin(pi x) needs |a| = pi
    with pytest.raises(TypeError, match="pass lib by name"):  # kanlab's old order: lib fourth
        model.suggest_symbolic(0, 0, 0, ["x", "sin"])
    rows = model.suggest_symbolic(a_range=(-5, 5), b_range=(-5, 5), lib=["x", "sin"], verbose=False)
    assert [r["name"] for r in rows] == ["sin"]
    fixed = model.auto_symbolic(lib=["x", "sin"], a_range=(0, 4), b_range=(-1, 1), verbose=False)
    assert [r["name"] for r in fixed] == ["sin"] and fixed[0]["r2"] > 0.999


def test_unfix_symbolic_all_restores_every_spline(fitted) -> None:
    model, ds = fitted("sin_of_x0")[:2]
    x = ds["test_input"]
    model.remove_edge(0, 1, 2)
    before = model(x).detach()
    model.fix_symbolic(0, 0, 0, "sin", verbose=False)
    model.fix_symbolic(1, 1, 0, "x", verbose=False)
    assert model.unfix_symbolic_all() is model
    assert all(s.n_active == 0 for s in model.symbolic) and torch.equal(model(x), before)
    assert model.layers[0].mask[2, 1] == 0 and int(model.layers[0].mask.sum()) == 5  # the removed edge stays off


def test_a_function_without_autograd_derivative_is_found(monkeypatch) -> None:
    """add_symbolic('J0', torch.special.bessel_j0): bessel_j0 has no autograd derivative, which
    crashed the Levenberg-Marquardt refinement ("element 0 of tensors does not require grad");
    suggest/fix/auto_symbolic now find J0 on an edge that is J0(3 x + 1), and training reaches a, b."""
    monkeypatch.setattr(symbolic_lib, "_LIBRARY", dict(symbolic_lib._library()))  # keep J0 in this test
    from kanlab.utils import add_symbolic

    add_symbolic("J0", torch.special.bessel_j0)
    ds = create_dataset(lambda x: torch.special.bessel_j0(3 * x[:, [0]] + 1), n_var=1, seed=0, dtype=torch.float64)
    model = KAN([1, 1], grid=10, seed=0, dtype=torch.float64)
    model.fit(ds, opt="LBFGS", steps=20, progress=False)
    lib = ["x", "x^2", "sin", "gaussian", "J0"]
    name, _, r2, complexity = model.suggest_symbolic(0, 0, 0, lib=lib, verbose=False)
    assert name == "J0" and r2 > 0.9999 and complexity == 1
    r2 = model.fix_symbolic(0, 0, 0, "J0", verbose=False)
    a, b, c, d = model.symbolic[0].affine[0, 0].tolist()
    assert r2 > 0.9999 and abs(a - 3) < 0.02 and abs(b - 1) < 0.02 and abs(c - 1) < 0.02 and abs(d) < 0.02
    model.unfix_symbolic(0, 0, 0)
    assert [r["name"] for r in model.auto_symbolic(lib=lib, verbose=False)] == ["J0"]
    model.symbolic[0].affine.grad = None
    model(ds["train_input"]).square().sum().backward()
    assert (model.symbolic[0].affine.grad[0, 0, :2].abs() > 0).all()  # a and b get gradients
    formula = model.symbolic_formula(var=["x"], ex_round=None, simplify=False)
    assert "J0(" in str(formula)
    np_out = formula.to_python()(ds["test_input"].numpy())
    torch.testing.assert_close(torch.as_tensor(np_out), model(ds["test_input"]).detach())


def test_set_mode_switches_and_sums_the_spline_and_symbolic_parts() -> None:
    model = KAN([1, 1], seed=0)
    x = torch.linspace(-1, 1, 50).reshape(-1, 1)
    spline = model(x).detach()
    model.fix_symbolic(0, 0, 0, "sin", fit_params_bool=False, params=(2.0, 0.0, 1.0, 0.0), verbose=False)
    sym = torch.sin(2 * x)
    assert torch.allclose(model(x), sym, atol=1e-6)  # "s", as fix_symbolic leaves it
    model.set_mode(0, 0, 0, "ns")
    assert torch.allclose(model(x), spline + sym, atol=1e-6)
    model.set_mode(0, 0, 0, "sn", mask_n=0.5)
    assert torch.allclose(model(x), 0.5 * spline + sym, atol=1e-6) and model.layers[0].mask[0, 0] == 0.5
    model.set_mode(0, 0, 0, "n")
    assert torch.equal(model(x), spline)
    model.set_mode(0, 0, 0, "s", mask_n=0.5)  # mask_n only counts with both parts (pykan)
    assert torch.allclose(model(x), sym, atol=1e-6)  # the function was kept while off
    model.unfix_symbolic(0, 0, 0)
    model.set_mode(0, 0, 0, "s")  # unfixed: pykan's "0" with the kept d = 0
    assert model.symbolic[0].names == [["0"]] and not model(x).any()
    with pytest.raises(ValueError, match="remove_edge"):
        model.set_mode(0, 0, 0, "off")
    with pytest.raises(IndexError, match="i=1"):
        model.set_mode(0, 1, 0, "n")


def test_set_mode_masks_equal_pykans() -> None:
    kan = pytest.importorskip("kan")
    ours, theirs = KAN([2, 2], seed=0), kan.KAN(width=[2, 2], auto_save=False, seed=0)
    for (i, j), mode in zip([(0, 0), (0, 1), (1, 0), (1, 1)], ["s", "n", "ns", "sn"]):
        ours.set_mode(0, i, j, mode, mask_n=0.25)
        theirs.set_mode(0, i, j, mode, mask_n=0.25)
    assert torch.equal(ours.layers[0].mask, theirs.act_fun[0].mask.T)
    assert torch.equal(ours.symbolic[0].active, theirs.symbolic_fun[0].mask)


def test_an_edge_in_both_modes_survives_checkpoints_pruning_formulas_and_plots(fitted, tmp_path) -> None:
    import matplotlib.pyplot as plt

    model, ds = fitted("sin_of_x0")[:2]
    model.fix_symbolic(0, 0, 0, "sin", verbose=False)
    model.set_mode(0, 0, 0, "ns", mask_n=0.5)
    model.fix_symbolic(1, 0, 0, "x", fit_params_bool=False, verbose=False)  # node 0 reaches the formula
    x = ds["test_input"]
    y = model(x).detach()
    model.saveckpt(str(tmp_path / "both.ckpt"))
    for copy in (KAN.loadckpt(str(tmp_path / "both.ckpt")), model.prune_node(active_neurons_id=[[0, 1, 2]])):
        assert torch.equal(copy(x), y)
        assert copy.layers[0].mask[0, 0] == 0.5 and copy.symbolic[0].active[0, 0] == 1
        assert copy.symbolic[0].names[0][0] == "sin"
    assert model.attribute()["edge_scores"][0][0, 0] > 0
    with pytest.warns(UserWarning, match=r"\(0, 0, 0\)"):  # its spline part has no formula
        formula = model.symbolic_formula(ex_round=None, simplify=False)
    assert "sin" in str(formula.formulas[0])
    fig = model.plot()
    assert len(fig.axes) > 1
    plt.close("all")


def test_auto_symbolic_names_pykans_positional_range() -> None:
    """pykan's auto_symbolic((-10, 10)) passes a_range first; kanlab's first argument is lib."""
    model = KAN([1, 1], grid=3, k=3, seed=0)
    with pytest.raises(TypeError, match=r"a_range=\(-10, 10\)"):
        model.auto_symbolic((-10, 10))


def test_auto_symbolic_reuses_suggest_symbolics_rankings_on_identical_samples_only(fitted, monkeypatch) -> None:
    """pykan's workflow ranks every first-layer edge twice (suggest_symbolic(), then auto_symbolic());
    the second ranking is the first one's, exactly when the edge's samples and options are equal."""
    import copy

    import kanlab.symbolic as sym

    model = fitted("sparse_three_inputs")[0]
    twin, changed = copy.deepcopy(model), copy.deepcopy(model)
    lib = ["x", "x^2", "sin", "exp"]
    calls, real = [], sym.rank_functions
    monkeypatch.setattr(sym, "rank_functions", lambda *a, **kw: calls.append(a[0].numel()) or real(*a, **kw))
    model.suggest_symbolic(lib=lib, verbose=False)
    ranked = len(calls)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fixed = model.auto_symbolic(lib=lib, layers=[0], verbose=False)
        assert len(calls) == ranked  # every first-layer edge: the same samples, ranked once
        expected = twin.auto_symbolic(lib=lib, layers=[0], verbose=False)  # a copy starts without rankings
        assert len(calls) > ranked and fixed == expected
        calls.clear()
        changed.suggest_symbolic(lib=lib, verbose=False)
        ranked = len(calls)
        with torch.no_grad():
            changed.layers[0].scale_base.add_(0.1)  # every first-layer edge changes
        live = int(changed.layers[0].mask.sum())
        changed.auto_symbolic(lib=lib, layers=[0], verbose=False)
        assert len(calls) == ranked + live
        calls.clear()
        changed.unfix_symbolic_all()
        changed.auto_symbolic(lib=lib[:3], layers=[0], verbose=False)  # other options: ranked again
        assert len(calls) > 0
