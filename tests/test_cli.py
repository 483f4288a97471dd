"""The main job: `kanlab demo` trains the seed's function and writes its plots."""
import subprocess
import sys

import pytest

from kanlab.cli import main


def test_demo_writes_plots(tmp_path, capsys) -> None:
    assert main(["demo", "--out", str(tmp_path), "--steps", "3"]) == 0
    out = capsys.readouterr().out
    for grid in (3, 5, 10, 20):
        assert f"\n{grid:>5} " in out
    for name in ("loss_curve.png", "function_comparison.png", "kan_diagram.png", "kan_product_symbolic.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    # 3 steps per grid may leave an edge no library function fits: then the demo says so, no formula
    assert "f(x, y) = " in out or "no formula: auto_symbolic kept" in out


@pytest.mark.parametrize("accept", [float("inf"), -1.0])
def test_demo_tries_the_next_start_until_a_formula_fits(tmp_path, monkeypatch, capsys, accept) -> None:
    """The product's formula comes from the first start (by training loss) whose formula fits to
    ACCEPT_RMSE; when none does, every start is tried and the best formula kept."""
    import math

    from kanlab import demo

    dataset = demo.create_dataset(demo.target, n_var=2, ranges=[(-math.pi, math.pi), (-1.0, 1.0)],
                                  train_num=200, test_num=200, seed=0)
    tried, original = [], demo.symbolic_fit

    def recording(model, data, steps):
        tried.append(original(model, data, steps))
        return tried[-1]

    monkeypatch.setattr(demo, "symbolic_fit", recording)
    monkeypatch.setattr(demo, "ACCEPT_RMSE", accept)
    formula = demo.recover_product(dataset, str(tmp_path), steps=3, seed=0)
    out = capsys.readouterr().out
    assert len(tried) == (1 if accept > 0 else 3)
    assert formula == min(tried, key=lambda t: t[1])[0]
    assert out.count("trying the next start") == (0 if accept > 0 else 2)
    assert ("keeping the best start" in out) == (accept < 0)
    assert (tmp_path / "kan_product_symbolic.png").stat().st_size > 10_000


@pytest.mark.slow
def test_demo_recovers_the_product_formula(tmp_path) -> None:
    import sympy as sp

    from kanlab.demo import run_demo

    formula = sp.sympify(run_demo(str(tmp_path))["formula"])
    x, y = sp.symbols("x y")
    ratio = sp.simplify(formula / (sp.sin(x) * sp.exp(-y ** 2)))  # exact up to the constant's last digits
    assert ratio.is_number and abs(float(ratio) - 1) < 1e-2


def test_python_m_kanlab_help() -> None:
    done = subprocess.run([sys.executable, "-m", "kanlab", "demo", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "--out" in done.stdout


def test_compare_csv_prints_table_and_plot(tmp_path, capsys) -> None:
    from test_compare import write_csv

    csv_path = write_csv(tmp_path / "data.csv", n=120)
    png = tmp_path / "cmp.png"
    assert main(["compare", csv_path, "--steps", "30", "--hidden", "3", "--out", str(png)]) == 0
    out = capsys.readouterr().out
    assert "data.csv: regression, 96 train / 24 test rows, 5 features" in out
    assert "test RMSE" in out and "\nKAN   [5, 3, 1]" in out and "\nMLP   [5, " in out
    assert "30 steps, Adam lr 0.01, full batch, seed 0" in out
    assert png.stat().st_size > 10_000


def test_compare_clear_errors(tmp_path, capsys) -> None:
    from test_compare import write_csv

    assert main(["compare", str(tmp_path / "missing.csv")]) == 2
    assert "no such CSV file" in capsys.readouterr().err
    csv_path = write_csv(tmp_path / "d.csv", n=20, missing_rows=(1,))
    assert main(["compare", csv_path, "--target", "price"]) == 2
    assert "unknown target column 'price'" in capsys.readouterr().err
    assert main(["compare", csv_path]) == 2
    assert "--dropna" in capsys.readouterr().err
    assert main(["compare", "no_such_dataset"]) == 2
    assert "built-in names are" in capsys.readouterr().err
    for bad in (["--hidden", "0"], ["--steps", "0"], ["--seconds", "-1"]):
        with pytest.raises(SystemExit):
            main(["compare", csv_path, *bad])


def test_compare_names_a_missing_optional_extra(monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "sklearn", None)  # as if scikit-learn were not installed
    assert main(["compare", "breast_cancer", "--steps", "1"]) == 2
    assert "pip install 'kanlab[sklearn]'" in capsys.readouterr().err


def test_one_thread_restores_the_callers_thread_count() -> None:
    import torch

    from kanlab.demo import one_thread

    before = torch.get_num_threads()
    with pytest.raises(RuntimeError):
        with one_thread():
            assert torch.get_num_threads() == 1
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before
