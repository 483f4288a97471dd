"""Plots and per-edge views: the diagram, activation grids, histories, act_fun/get_fun."""
import math
import os
import subprocess
import sys

import matplotlib.pyplot as plt  # Agg: tests/conftest.py sets MPLBACKEND
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
    assert (tmp_path / "plots" / "kan_diagram.png").is_file()
    plt.savefig(tmp_path / "kan.png")
    assert (tmp_path / "kan.png").stat().st_size > 10_000
    plt.close("all")


def test_plot_opacity_follows_importance(fitted) -> None:
    model, _, _ = fitted
    scores = model.attribute()["edge_scores"][0]  # (3, 2)
    fig = model.plot(beta=3)
    curves = {}
    for ax, (i, j) in zip(_insets(fig), [(i, j) for i in range(2) for j in range(3)]):
        curves[(i, j)] = ax.lines[0].get_alpha()
    for (i, j), alpha in curves.items():
        assert alpha == pytest.approx(math.tanh(3 * float(scores[j, i])), abs=1e-6)
    # input 1 is unused: its edges are fainter than input 0's strongest one
    assert max(curves[(1, j)] for j in range(3)) < max(curves[(0, j)] for j in range(3))
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
