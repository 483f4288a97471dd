"""Plots and per-edge views: the diagram, activation grids, histories, act_fun/get_fun."""
import math
import os
import subprocess
import sys

import matplotlib.pyplot as plt  # Agg: tests/conftest.py sets MPLBACKEND
import numpy as np
import pytest
import torch

from kanlab import KAN


@pytest.fixture()
def fitted(fitted):
    return fitted("sin_of_x0")


def _insets(fig):
    return [ax for ax in fig.axes[1:]]


def test_plot_draws_every_edge_and_becomes_current(fitted, tmp_path) -> None:
    model, _, _ = fitted
    plt.subplots(figsize=(12, 8))  # the seed makes a blank figure first; plot reuses it
    fig = model.plot(beta=10, in_vars=["x", "y"], out_vars=["f"], title="T", folder=str(tmp_path / "plots"))
    assert plt.gcf() is fig and tuple(fig.get_size_inches()) == (12, 8)
    assert len(_insets(fig)) == 2 * 3 + 3 * 1
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert {"x", "y", "f", "T"} <= set(texts)
    assert (tmp_path / "plots" / "T.png").is_file()
    plt.savefig(tmp_path / "kan.png")
    assert (tmp_path / "kan.png").stat().st_size > 10_000
    plt.close("all")


def _layer0(fig):
    """Layer 0's insets of the [2, 3, 1] fixture by edge ``(i, j)``."""
    return dict(zip([(i, j) for i in range(2) for j in range(3)], _insets(fig)))


def _height(ax) -> float:
    lo, hi = ax.get_ylim()
    return hi - lo


def _extent(line) -> float:
    return float(np.ptp(line.get_ydata()))


def test_plot_opacity_follows_importance(fitted) -> None:
    model, _, _ = fitted
    scores = model.attribute()["edge_scores"][0]  # (3, 2)
    fig = model.plot(beta=3)
    for (i, j), ax in _layer0(fig).items():
        s = float(scores[j, i])
        spines = {side.get_linestyle() for side in ax.spines.values()}
        if s >= 1e-2:  # contributing: tanh(beta * score), never fainter than 0.4, black, solid box
            assert ax.lines[0].get_alpha() == pytest.approx(max(math.tanh(3 * s), 0.4), abs=1e-6)
            assert ax.lines[0].get_color() == "black" and spines == {"solid"}
        else:  # negligible: a grey curve in a dotted box
            assert ax.lines[0].get_color() == "0.6" and spines != {"solid"}
    # input 1 is unused: all its edges are negligible; input 0's edges carry the function
    assert all(float(scores[j, 1]) < 1e-2 for j in range(3)) and float(scores[:, 0].sum()) > 0.9
    plt.close("all")


def test_plot_insets_share_their_layers_vertical_scale(fitted) -> None:
    """Every inset of a layer is equally tall in data units, so drawn heights compare; a
    (nearly) flat edge is a flat line, not its rounding noise blown up to the full height."""
    model, ds, _ = fitted
    with torch.no_grad():  # edge 1 -> 2 of layer 0: a flat function plus 1e-9 noise
        model.layers[0].scale_base[2, 1] = 1e-9
        model.layers[0].coef[2, 1] = 1e-9 * torch.randn(model.layers[0].coef.shape[-1])
    fig = model.plot()
    insets = _insets(fig)
    layers = [insets[:6], insets[6:]]
    for axes in layers:
        heights = {round(_height(ax), 9) for ax in axes}
        assert len(heights) == 1  # one scale per layer
        largest = max(_extent(ax.lines[0]) for ax in axes)
        assert _height(axes[0]) == pytest.approx(1.15 * largest, rel=1e-6)
        for ax in axes:  # every curve inside its inset
            lo, hi = ax.get_ylim()
            ys = ax.lines[0].get_ydata()
            assert lo <= ys.min() and ys.max() <= hi
    flat = _layer0(fig)[(1, 2)].lines[0]
    assert 0 < _extent(flat) < 1e-6 * _height(_layer0(fig)[(1, 2)])
    # the small edges of the unused input look small next to the edge carrying sin(pi x)
    big = max(_extent(_layer0(fig)[(0, j)].lines[0]) for j in range(3))
    assert all(_extent(_layer0(fig)[(1, j)].lines[0]) < 0.05 * big for j in range(3))
    plt.close("all")


def test_plot_magnifies_a_contributing_edge_too_small_to_read(fitted) -> None:
    """An edge a tenth the size of its layer's largest, but contributing, keeps its true-scale
    curve and gets a dashed copy magnified x5, labelled; negligible edges never do."""
    model, _, _ = fitted
    layer = model.layers[0]
    j = int(model.attribute()["edge_scores"][0][:, 0].argmax())  # the largest edge out of input 0
    with torch.no_grad():  # input 1 -> node j: a tenth of input 0 -> node j (both span [-1, 1])
        layer.coef[j, 1] = 0.1 * layer.coef[j, 0]
        layer.scale_spline[j, 1] = layer.scale_spline[j, 0]
        layer.scale_base[j, 1] = 0.1 * layer.scale_base[j, 0]
    scores = model.attribute()["edge_scores"][0]
    assert float(scores[j, 1]) > 1e-2
    fig = model.plot()
    ax = _layer0(fig)[(1, j)]
    true, zoomed = ax.lines
    assert zoomed.get_linestyle() == "--" and [t.get_text() for t in ax.texts] == ["×5"]
    assert _extent(zoomed) == pytest.approx(5 * _extent(true), rel=1e-5)
    assert _extent(true) == pytest.approx(0.1 * _extent(_layer0(fig)[(0, j)].lines[0]), rel=0.02)
    for (i, j), other in _layer0(fig).items():
        if float(scores[j, i]) < 1e-2:
            assert len(other.lines) == 1 and not other.texts
    plt.close("all")


def test_plot_insets_span_the_data_each_edge_sees(fitted) -> None:
    """x range of every inset = the range of that input on the cached data, after refine too."""
    model, ds, _ = fitted
    model = model.refine(10)
    fig = model.plot()
    inputs = model.layer_inputs(ds["train_input"])
    insets = _insets(fig)
    ranges = [(0, i) for i in range(2) for _ in range(3)] + [(1, i) for i in range(3)]
    for ax, (l, i) in zip(insets, ranges):
        col = inputs[l][:, i]
        assert ax.get_xlim() == pytest.approx((float(col.min()), float(col.max())), rel=1e-6)
    plt.close("all")


def test_plot_keeps_one_file_per_call(fitted, tmp_path) -> None:
    """Titled calls write <title>.png (the same title replaces its own file), untitled calls
    kan_diagram.png, kan_diagram_2.png, ...; no call overwrites another's picture."""
    from PIL import Image

    model, _, _ = fitted
    folder = tmp_path / "figs"
    for grid in (3, 5, 10, 20):
        model.plot(folder=str(folder), title=f"KAN Structure (Grid={grid})")
    model.plot(folder=folder)  # a PathLike works too
    model.plot(folder=str(folder))
    (folder / "a_b.png").write_bytes(b"somebody else's file")
    model.plot(folder=str(folder), title="a b")  # would be a_b.png: that one is not its own
    model.plot(folder=str(folder), title="a_b")
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted([f"KAN_Structure_Grid_{g}.png" for g in (3, 5, 10, 20)]
                           + ["kan_diagram.png", "kan_diagram_2.png", "a_b.png", "a_b_2.png", "a_b_3.png"])
    assert (folder / "a_b.png").read_bytes() == b"somebody else's file"
    with Image.open(folder / "KAN_Structure_Grid_5.png") as image:
        assert image.text["Title"] == "KAN Structure (Grid=5)"
    os.utime(folder / "a_b_2.png", ns=(0, 0))
    model.plot(folder=str(folder), title="a b")  # the same title: its own file, replaced
    assert len(list(folder.iterdir())) == len(names) and (folder / "a_b_2.png").stat().st_mtime_ns > 0
    plt.close("all")


def test_plot_marks_symbolic_and_skips_pruned_edges(fitted) -> None:
    import copy

    model = copy.deepcopy(fitted[0])
    model.fix_symbolic(0, 0, 0, "sin", verbose=False)
    model.remove_edge(0, 1, 2)
    fig = model.plot(sample=True, tick=True, metric="forward_n")
    insets = _insets(fig)
    assert len(insets) == 2 * 3 + 3 - 1
    titles = [ax.get_title() for ax in insets]
    assert titles.count("sin") == 1
    sin_ax = insets[titles.index("sin")]
    assert sin_ax.lines[0].get_color() == "tab:red"
    plt.close("all")


def test_plot_errors(fitted) -> None:
    model, _, _ = fitted
    with pytest.raises(ValueError, match="metric"):
        model.plot(metric="bogus")
    with pytest.raises(ValueError, match="in_vars needs 2"):
        model.plot(in_vars=["x"])
    with pytest.raises(IndexError):
        model.plot_activations(5)
    with pytest.raises(KeyError, match="no"):
        model.plot_history({"train_loss": [1.0]}, keys=["missing"])
    plt.close("all")


def test_plot_without_data_and_wide_layers() -> None:
    fig = KAN([2, 2], seed=0).plot()
    assert len(fig.axes) == 1 + 4
    fig = KAN([20, 10], seed=0).plot()  # 200 edges: lines only
    assert len(fig.axes) == 1
    plt.close("all")


def test_plot_activations_and_history(fitted) -> None:
    model, _, res = fitted
    fig = model.plot_activations(0)
    assert len(fig.axes) == 6
    assert all(ax.patches for ax in fig.axes)  # shaded data range
    fig = model.plot_history(res)
    assert {line.get_label() for line in fig.axes[0].lines} >= {"train_loss", "test_loss"}
    plt.close("all")


def test_act_fun_and_get_fun_evaluate_edges(fitted) -> None:
    model, ds, _ = fitted
    x = torch.linspace(-1, 1, 50).unsqueeze(1)
    full = torch.cat([x, torch.zeros_like(x)], dim=1)
    acts = model.edge_activations(0, full)  # (50, 3, 2)
    y = model.act_fun[0][2][:, 0:1](x)
    assert y.shape == (50, 1) and torch.allclose(y[:, 0], acts[:, 2, 0])
    assert torch.allclose(model.act_fun[0][2][0](x), y) and torch.allclose(model.act_fun[0][2][:, 0](x), y)
    assert len(model.act_fun[0].submodules) == 6
    xs, ys = model.get_fun(0, 0, 2)
    data = ds["train_input"][:, 0]
    assert xs.min() == pytest.approx(float(data.min())) and xs.max() == pytest.approx(float(data.max()))
    assert ys.shape == xs.shape
    with pytest.raises(IndexError):
        model.act_fun[0][3]
    with pytest.raises(IndexError):
        model.act_fun[0][0][:, 0:2]
    with pytest.raises(IndexError):
        model.act_fun[2]
    with pytest.raises(ValueError, match=r"\(n, 1\)"):
        model.act_fun[0][0][0](torch.zeros(4, 2))


_KEEP_BACKEND = """
import sys
import matplotlib
matplotlib.use(sys.argv[1])
import numpy as np
from kanlab import KAN
from kanlab.compare import ModelRun, TabularData, plot_comparison
model = KAN([2, 3, 1], seed=0)
model.plot()
model.plot_activations(0)
KAN.plot_history({"train_loss": [1.0, 0.5], "test_loss": [1.1, 0.6]})
z = np.zeros((4, 2))
run = ModelRun("KAN", [2, 1], 5, 2, 0.1, {"rmse": 1.0}, [1.0, 0.5], [1, 2], [0.0, 0.1])
plot_comparison(TabularData("t", "regression", z, z[:, 0], z, z[:, 0], ["a", "b"]), [run], sys.argv[2])
print(matplotlib.get_backend())
"""


@pytest.mark.parametrize("backend", ["ps", "svg"])
def test_plotting_keeps_the_users_backend(tmp_path, backend) -> None:
    """No display and a user-chosen backend (as on macOS/Windows): every kanlab plot keeps it."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    done = subprocess.run([sys.executable, "-c", _KEEP_BACKEND, backend, str(tmp_path / "c.png")],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1].lower() == backend
    assert (tmp_path / "c.png").stat().st_size > 1000


def _input_labels(fig) -> list:
    """The diagram's texts below the input row (input names), left to right."""
    texts = [t for t in fig.axes[0].texts if t.get_va() == "top" and t.get_position()[1] < 0.07]
    return [t.get_text() for t in sorted(texts, key=lambda t: t.get_position()[0])]


def test_plot_in_vars_after_prune_input() -> None:
    """After prune_input the original names pick the kept inputs by input_id; names for the kept
    inputs are used as they are; sympy symbols are drawn in LaTeX; any other length is refused."""
    import sympy

    small = KAN([3, 2, 1], seed=0).prune_input(active_inputs=[1, 2])
    assert small.input_id == [1, 2]
    assert _input_labels(small.plot()) == ["$x_{2}$", "$x_{3}$"]  # default: original numbers
    assert _input_labels(small.plot(in_vars=["a", "b", "c"])) == ["b", "c"]
    assert _input_labels(small.plot(in_vars=["p", "q"])) == ["p", "q"]
    assert _input_labels(small.plot(in_vars=sympy.symbols("a b c"))) == ["$b$", "$c$"]
    with pytest.raises(ValueError, match=r"in_vars needs 2 names .*at least 3, picked by input_id \[1, 2\]"):
        small.plot(in_vars=["a"])
    plt.close("all")
