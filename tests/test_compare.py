"""kanlab.compare: CSV reading rules, parameter matching, the budgeted KAN vs MLP run, the plot."""
import csv
import math

import numpy as np
import pytest

from kanlab.compare import (TabularData, _mlp_count, compare, describe_budget, format_table, infer_task,
                            load_builtin, mlp, mlp_width_for_params, plot_comparison, read_csv_table,
                            resolve_batch_size)
from kanlab.model import KAN


def write_csv(path, n: int = 240, seed: int = 0, missing_rows=(), label: bool = False) -> str:
    """Columns a, b (numbers), color (text), y: a smooth function of them (or its sign as a label)."""
    rng = np.random.RandomState(seed)
    colors = np.array(["red", "green", "blue"])
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["a", "b", "color", "y"])
        for i in range(n):
            a, b, c = rng.uniform(-2, 2), rng.uniform(-1, 1), colors[rng.randint(3)]
            y = math.sin(a) + b ** 2 + {"red": 0.5, "green": 0.0, "blue": -0.5}[c]
            cells = [f"{a:.5f}", f"{b:.5f}", c, ("pos" if y > 0.3 else "neg") if label else f"{y:.5f}"]
            if i in missing_rows:
                cells[1] = "NA"
            w.writerow(cells)
    return str(path)


def test_read_csv_one_hot_split_and_task(tmp_path) -> None:
    data = read_csv_table(write_csv(tmp_path / "t.csv"), test_fraction=0.25, seed=1)
    assert data.task == "regression" and data.classes == []
    assert data.feature_names == ["a", "b", "color=blue", "color=green", "color=red"]
    assert data.X_train.shape == (180, 5) and data.X_test.shape == (60, 5) and data.y_test.shape == (60,)
    assert np.all(data.X_train[:, 2:].sum(1) == 1)  # one level per row
    assert any("one-hot" in note for note in data.notes)
    again = read_csv_table(str(tmp_path / "t.csv"), test_fraction=0.25, seed=1)
    assert np.array_equal(again.X_test, data.X_test)

    labels = read_csv_table(write_csv(tmp_path / "c.csv", label=True))
    assert labels.task == "classification" and labels.classes == ["neg", "pos"]
    assert set(np.unique(labels.y_train)) == {0, 1}
    by_name = read_csv_table(str(tmp_path / "t.csv"), target="a", task="regression")
    assert "a" not in by_name.feature_names and "y" in by_name.feature_names


def test_infer_task() -> None:
    assert infer_task(["1", "0", "2", "1"]) == "classification"
    assert infer_task(["cat", "dog"]) == "classification"
    assert infer_task(["0.5", "1.25", "3"]) == "regression"
    assert infer_task([str(i) for i in range(50)]) == "regression"  # too many integer values


def test_read_csv_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no such CSV"):
        read_csv_table(str(tmp_path / "absent.csv"))
    path = write_csv(tmp_path / "t.csv", n=30, missing_rows=(3, 7))
    with pytest.raises(ValueError, match=r"unknown target column 'z'.*'color'"):
        read_csv_table(path, target="z")
    with pytest.raises(ValueError, match=r"2 row\(s\) have missing values.*\[5, 9\]"):
        read_csv_table(path)
    dropped = read_csv_table(path, dropna=True)
    assert len(dropped.X_train) + len(dropped.X_test) == 28 and "dropped 2" in dropped.notes[0]
    with pytest.raises(ValueError, match="target 'color' is not numeric"):
        read_csv_table(path, target="color", task="regression", dropna=True)
    ids = tmp_path / "ids.csv"
    ids.write_text("id,x,y\n" + "".join(f"u{i},{i},{i % 2}\n" for i in range(150)))
    with pytest.raises(ValueError, match="column 'id' is not numeric and has 150 distinct"):
        read_csv_table(str(ids))
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("x,y\n1,2\n3\n")
    with pytest.raises(ValueError, match="lines \\[3\\]"):
        read_csv_table(str(ragged))
    with pytest.raises(ValueError, match="task must be one of"):
        read_csv_table(path, task="clustering")


def test_mlp_matches_parameter_count() -> None:
    for n_in, n_out, n_params, depth in [(5, 1, 560, 2), (30, 2, 2560, 2), (64, 10, 5920, 3), (3, 1, 10, 1)]:
        width = mlp_width_for_params(n_in, n_out, n_params, depth)
        h = width[1]
        assert len(width) == depth + 2 and width[0] == n_in and width[-1] == n_out
        assert sum(p.numel() for p in mlp(width).parameters()) == _mlp_count(n_in, h, depth, n_out)
        gap = abs(_mlp_count(n_in, h, depth, n_out) - n_params)
        assert gap <= abs(_mlp_count(n_in, h + 1, depth, n_out) - n_params)
        assert h == 1 or gap <= abs(_mlp_count(n_in, h - 1, depth, n_out) - n_params)
    assert KAN([4, 8, 1], grid=5, k=3).num_parameters() == 400  # coef 4*8*8 + 8*1*8, two scales per edge; no symbolic slots


def test_compare_regression_same_budget_and_deterministic(tmp_path) -> None:
    data = read_csv_table(write_csv(tmp_path / "t.csv", n=300))
    runs = compare(data, hidden=(4,), steps=150, seed=0)
    kan, net = runs
    assert (kan.name, net.name) == ("KAN", "MLP") and kan.width == [5, 4, 1] and len(net.width) == 4
    assert abs(net.params - kan.params) <= 0.1 * kan.params
    assert kan.steps == net.steps == 150
    assert kan.metrics["r2"] > 0.9 and net.metrics["r2"] > 0.5
    assert kan.curve_steps[-1] == 150 and len(kan.curve) == len(kan.curve_seconds) == len(kan.curve_steps)
    assert kan.curve[-1] < kan.curve[0]  # test RMSE falls
    again = compare(data, hidden=(4,), steps=150, seed=0)
    assert again[0].metrics == kan.metrics and again[1].metrics == net.metrics
    table = format_table(data, runs, "150 steps")
    assert "test R^2" in table and "KAN   [5, 4, 1]" in table and "budget per model: 150 steps" in table


def test_compare_wall_time_budget_classification(tmp_path) -> None:
    data = read_csv_table(write_csv(tmp_path / "c.csv", n=200, label=True))
    runs = compare(data, seconds=1.0, batch_size=32, seed=1)  # 0.4 s left too few steps on a busy machine
    for run in runs:
        assert 1.0 <= run.seconds < 3.0 and run.steps > 1
        assert 0.0 <= run.metrics["accuracy"] <= 1.0
    assert max(run.metrics["accuracy"] for run in runs) > 0.8
    path = plot_comparison(data, runs, str(tmp_path / "sub" / "cmp.png"))
    assert (tmp_path / "sub" / "cmp.png").stat().st_size > 10_000 and path.endswith("cmp.png")


def test_compare_argument_errors() -> None:
    data = TabularData("t", "regression", np.zeros((4, 2)), np.zeros(4), np.zeros((2, 2)), np.zeros(2), ["a", "b"])
    with pytest.raises(ValueError, match="opt must be one of"):
        compare(data, opt="SGD")
    with pytest.raises(ValueError, match="steps must be"):
        compare(data, steps=0)


def test_load_builtin() -> None:
    pytest.importorskip("sklearn")
    data = load_builtin("breast_cancer")
    assert data.task == "classification" and data.classes == ["0", "1"] and data.X_train.shape[1] == 30
    with pytest.raises(ValueError, match="built-in names are"):
        load_builtin("iris-ish")


def test_batch_size_resolution_and_budget_line(tmp_path) -> None:
    assert resolve_batch_size(100, "Adam", None) is None  # small tables: full batch
    assert resolve_batch_size(10_000, "Adam", None) == 512
    assert resolve_batch_size(10_000, "LBFGS", 64) is None
    assert resolve_batch_size(100, "Adam", 500) is None and resolve_batch_size(100, "AdamW", 32) == 32
    data = read_csv_table(write_csv(tmp_path / "t.csv", n=50))
    assert describe_budget(data, "Adam", None, 100, 2.0, 32, 3) == "100 steps or 2 s, Adam lr 0.01, batch 32, seed 3"
    assert describe_budget(data, "LBFGS") == "500 steps, LBFGS lr 1, full batch, seed 0"


def test_infinite_cells_count_as_missing_and_names_ignore_case(tmp_path) -> None:
    path = tmp_path / "inf.csv"
    path.write_text("a,b,y\n1,2,3\ninf,1,2\n2,3,4\n4,5,6\n")
    with pytest.raises(ValueError, match="missing values"):
        read_csv_table(str(path))
    assert read_csv_table(str(path), dropna=True).X_train.shape[1] == 2  # 'a' stays numeric
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        load_builtin("NOPE")


def _rewrite(src: str, dst, delimiter: str = ",", bom: bool = False, decimal_comma: bool = False,
             first: str = "") -> str:
    """``src`` (a ``write_csv`` file) written again with another delimiter, optionally a UTF-8 BOM,
    decimal commas in the numbers, and the first column renamed to ``first``."""
    with open(src, newline="") as fh:
        rows = list(csv.reader(fh))
    if first:
        rows[0][0] = first
    if decimal_comma:
        rows = rows[:1] + [[cell.replace(".", ",") for cell in row] for row in rows[1:]]
    with open(dst, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as fh:
        csv.writer(fh, delimiter=delimiter).writerows(rows)
    return str(dst)


def _same_table(a: TabularData, b: TabularData) -> bool:
    return (a.feature_names == b.feature_names and a.task == b.task and a.classes == b.classes
            and all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("X_train", "y_train", "X_test", "y_test")))


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@pytest.mark.parametrize("bom", [False, True])
def test_csv_delimiter_and_bom_do_not_change_the_table(tmp_path, delimiter, bom) -> None:
    base = write_csv(tmp_path / "base.csv", n=60)
    want = read_csv_table(base, target="a")
    path = _rewrite(base, tmp_path / "x.csv", delimiter, bom)
    got = read_csv_table(path, target="a")  # the BOM sits on the first column's name
    assert _same_table(got, want)
    assert not any("decimal" in note for note in got.notes)


def test_excel_csv_utf8_target_by_name(tmp_path, capsys) -> None:
    from kanlab.cli import main

    path = _rewrite(write_csv(tmp_path / "base.csv", n=60), tmp_path / "excel.csv", bom=True, first="price")
    assert open(path, "rb").read(3) == b"\xef\xbb\xbf"
    data = read_csv_table(path, target="price")
    assert "price" not in data.feature_names and data.feature_names[0] == "b"
    assert main(["compare", path, "--target", "price", "--steps", "2", "--out", str(tmp_path / "c.png")]) == 0


def test_semicolon_csv_with_decimal_commas(tmp_path) -> None:
    base = write_csv(tmp_path / "base.csv", n=60)
    want = read_csv_table(base)
    got = read_csv_table(_rewrite(base, tmp_path / "eu.csv", ";", bom=True, decimal_comma=True))
    assert _same_table(got, want)
    assert any("decimal commas" in note and "'a'" in note and "'y'" in note for note in got.notes)
    # only ';' files: a quoted "3,5" in a ',' file is text, not 3.5
    comma = tmp_path / "comma.csv"
    comma.write_text('x,y\n"3,5",1\n"4,5",2\n"5,5",3\n"6,5",4\n')
    assert read_csv_table(str(comma), task="regression").feature_names == ["x=3,5", "x=4,5", "x=5,5", "x=6,5"]
    # a thousands point is ambiguous: the column stays text
    thousands = tmp_path / "thousands.csv"
    thousands.write_text("x;y\n1.234,5;1\n2.345,5;2\n3.456,5;3\n4.567,5;4\n")
    assert read_csv_table(str(thousands), task="regression").feature_names[0] == "x=1.234,5"


def test_csv_that_is_not_utf8_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("café,y\n1,2\n3,4\n5,6\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8.*CSV UTF-8"):
        read_csv_table(str(path))
