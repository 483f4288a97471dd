import csv
import math

import pytest
import torch

from kanlab.datasets import FEYNMAN_KAN_PAPER, data_folder, feynman_dataset, feynman_equation, feynman_equations

FOLDER = None
try:
    FOLDER = data_folder() / "feynman"
except FileNotFoundError:
    pass
needs_data = pytest.mark.skipif(FOLDER is None or not (FOLDER / "FeynmanEquations.csv").is_file(),
                                reason="no Feynman tables in the data folder")


def _column_counts():
    counts = {}
    for file in ("FeynmanEquations.csv", "BonusEquations.csv"):
        with open(FOLDER / file, newline="", encoding="utf-8-sig") as fh:
            for row in csv.reader(fh):
                if row and row[0] and row[0] != "Filename":
                    start = 5 if file.startswith("Feynman") else 7  # first v1_name column
                    counts[row[0]] = sum(1 for i in range(start, len(row), 3) if row[i].strip())
    return counts


@needs_data
def test_all_records_and_variable_counts():
    records = feynman_equations()
    assert len(records) == 120 and len({r.name for r in records}) == 120
    counts = _column_counts()
    for rec in records:
        assert rec.n_var == counts[rec.name] == len(rec.ranges)
        assert all(lo < hi for lo, hi in rec.ranges)
    # rows whose count field is wrong take the columns' count
    assert feynman_equation("III.10.19").variables == ("mom", "Bx", "By", "Bz")
    assert feynman_equation("II.37.1").n_var == 3


@needs_data
def test_paper_equations_parse_and_are_finite_on_their_ranges():
    assert len(FEYNMAN_KAN_PAPER) == 27
    for name in FEYNMAN_KAN_PAPER:
        rec = feynman_equation(name)
        data = feynman_dataset(name, train_num=300, test_num=50, seed=0)
        assert data["train_input"].shape == (300, rec.n_var) and data["train_label"].shape == (300, 1)
        assert torch.isfinite(data["train_label"]).all() and torch.isfinite(data["test_label"]).all()
        for j, (lo, hi) in enumerate(rec.ranges):
            col = data["train_input"][:, j]
            assert col.min() >= lo and col.max() <= hi, (name, rec.variables[j])


@needs_data
def test_formulas_evaluate_correctly():
    x = torch.tensor([[2.0, 1.5]], dtype=torch.float64)  # I.6.2: sigma, theta
    expected = math.exp(-((1.5 / 2.0) ** 2) / 2) / (math.sqrt(2 * math.pi) * 2.0)
    assert feynman_equation("I.6.2").function()(x).item() == pytest.approx(expected, rel=1e-12)
    x = torch.tensor([[2.0, 3.0, 4.0, 5.0, 1.0]], dtype=torch.float64)  # I.44.4: n, kb, T, V1, V2 (ln)
    assert feynman_equation("I.44.4").function()(x).item() == pytest.approx(24 * math.log(1 / 5))
    x = torch.tensor([[0.5, 1.2]], dtype=torch.float64)  # I.26.2: arcsin(n sin(theta2))
    assert feynman_equation("I.26.2").function()(x).item() == pytest.approx(math.asin(0.5 * math.sin(1.2)))
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]], dtype=torch.float64)  # II.36.38
    mom, h, kb, t, alpha, eps, c, m = 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0
    expected = mom * h / (kb * t) + (mom * alpha) / (eps * c ** 2 * kb * t) * m
    assert feynman_equation("II.36.38").function()(x).item() == pytest.approx(expected)
    # a bonus equation with a name sympy would otherwise read as a function (E_n, theta) and a constant
    rec = feynman_equation("test_1")
    vals = dict(zip(rec.variables, [1.5, 1.2, 1.1, 1.3, 1.7, 2.0, 2.5]))
    got = rec.function()(torch.tensor([list(vals.values())], dtype=torch.float64)).item()
    expected = (vals["Z_1"] * vals["Z_2"] * vals["alpha"] * vals["hbar"] * vals["c"]
                / (4 * vals["E_n"] * math.sin(vals["theta"] / 2) ** 2)) ** 2
    assert got == pytest.approx(expected)


@needs_data
def test_seeds_and_errors(tmp_path):
    a, b = feynman_dataset("I.12.11", 20, 5, seed=2), feynman_dataset("I.12.11", 20, 5, seed=2)
    assert torch.equal(a["train_input"], b["train_input"]) and torch.equal(a["test_label"], b["test_label"])
    assert not torch.equal(a["train_input"], feynman_dataset("I.12.11", 20, 5, seed=3)["train_input"])
    with pytest.raises(ValueError, match="accepted: I.6.2a, I.6.2"):
        feynman_dataset("I.99.99")
    with pytest.raises(ValueError, match="train_num"):
        feynman_dataset("I.12.11", train_num=0)
    (tmp_path / "feynman").mkdir()
    with pytest.raises(FileNotFoundError, match="never downloads"):
        feynman_equations(folder=tmp_path)
    with pytest.raises(FileNotFoundError):
        feynman_equations(folder=tmp_path / "absent")


def test_names_other_than_variables_and_functions_are_refused():
    from kanlab.datasets.feynman import _parse

    assert _parse("m*exp(-x/2)", ("m", "x")) is not None
    with pytest.raises(ValueError, match=r"\['E'\]"):  # sympy would read E as Euler's number
        _parse("q*E", ("q",))
