"""Smoke tests: every script in examples/ runs to completion with --quick.

The slow tests (``make test-slow``) run the full scripts whose results the README quotes in its
prose and check each quoted figure against the run, read from README.md itself, so a figure that
drifts from what the code does fails them.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
README = (ROOT / "README.md").read_text()


def _mnist_data_folder():
    """The folder holding mnist/ (KANLAB_DATA or ../shared/data next to the checkout), or None."""
    for cand in (os.environ.get("KANLAB_DATA"), ROOT.parent / "shared" / "data"):
        if cand and (Path(cand) / "mnist" / "train-images-idx3-ubyte.gz").is_file():
            return Path(cand)
    return None


def _run(script, tmp_path, env_extra=None, quick=True):
    # One torch thread: these models are tiny, and with two threads on a busy 2-core machine
    # OpenMP oversubscription made a 4 s run take minutes.
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    env.update(env_extra or {})
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script)] + (["--quick"] if quick else []),
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300 if quick else 1800,
    )
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc.stdout


def test_tabular_regression_diabetes(tmp_path):
    pytest.importorskip("sklearn")
    out = _run("tabular_regression_diabetes.py", tmp_path)
    assert "Test MSE:" in out


def test_visualize_splines(tmp_path):
    out = _run("visualize_splines.py", tmp_path)
    assert "Training KAN..." in out
    assert (tmp_path / "function_comparison.png").is_file()


def test_binary_classification(tmp_path):
    pytest.importorskip("sklearn")
    out = _run("binary_classification.py", tmp_path)
    assert "Test accuracy:" in out


def test_mnist(tmp_path):
    folder = _mnist_data_folder()
    if folder is None:
        pytest.skip("MNIST files not found (set KANLAB_DATA or put them in ../shared/data/mnist)")
    out = _run("mnist.py", tmp_path, {"KANLAB_DATA": str(folder)})
    assert "Epoch 1, Accuracy:" in out


def test_kan_visualization_demo(tmp_path):
    out = _run("kan_visualization_demo.py", tmp_path)
    assert "VISUALIZATION COMPLETE!" in out
    for name in ["kan_structure_grid3.png", "kan_structure_grid5.png", "kan_structure_grid10.png",
                 "kan_structure_grid20.png", "kan_symbolic_final.png", "individual_activations_layer0.png",
                 "function_comparison.png", "1d_slices.png"]:
        assert (tmp_path / name).stat().st_size > 10_000, name


def test_continual_learning(tmp_path):
    out = _run("continual_learning.py", tmp_path)
    assert "figure written" in out and (tmp_path / "continual_learning.png").is_file()
    last = [line for line in out.splitlines() if line.strip().startswith("5 |")][0].split()
    kan_earlier, mlp_earlier = float(last[2]), float(last[5])
    assert kan_earlier < 1e-3 < mlp_earlier  # the KAN keeps the first four peaks, the MLP does not


def test_recover_laws(tmp_path):
    out = _run("recover_laws.py", tmp_path)
    # --quick (one seed, 20 steps) may leave an edge auto_symbolic refuses: the script then says so
    for key in ("II.6.15a", "I.27.6"):
        block = out.split(key, 1)[1].split("\nI", 1)[0]
        assert ("relative error vs the law" in block) == (tmp_path / f"law_{key}.png").is_file()
        assert ("relative error vs the law" in block) != ("no formula: every seed kept" in block)


def _readme_figure(pattern):
    """The number(s) the README states where ``pattern`` (a regex with groups) matches its text."""
    found = re.search(pattern, README, re.S)
    assert found, f"README.md no longer states a figure matching {pattern!r}: update this test with it"
    return [float(g) for g in found.groups()]


def _agrees(measured, stated, factor=2.0):
    """A stated figure holds if the run gives it within ``factor`` either way (runs differ by
    machine and thread count in the last digits of an LBFGS path, not in the order of magnitude)."""
    return stated / factor <= measured <= stated * factor


def test_kan_ode(tmp_path):
    out = _run("kan_ode.py", tmp_path)
    assert "worst relative coefficient error" in out and (tmp_path / "kan_ode_trajectories.png").is_file()


def test_time_series(tmp_path):
    pytest.importorskip("sktime")
    out = _run("time_series.py", tmp_path)
    assert "median" in out and (tmp_path / "time_series_output" / "forecast.png").is_file()


@pytest.mark.slow
def test_readme_mission_demo_mae(tmp_path):
    (stated,) = _readme_figure(r"MAE ≈ [0-9.]+ on a 100 × 100 grid \(([0-9.]+) with one thread")
    out = _run("kan_visualization_demo.py", tmp_path, quick=False)
    mae = float(re.search(r"Mean Absolute Error: ([0-9.]+)", out).group(1))
    assert _agrees(mae, stated), f"mission demo MAE {mae}, README says {stated}"


@pytest.mark.slow
def test_readme_recover_laws_errors(tmp_path):
    lens, dipole = _readme_figure(r"the lens law ([0-9.e-]+) relative, the dipole ([0-9.e-]+)")
    out = _run("recover_laws.py", tmp_path, quick=False)
    blocks = {b.split(",", 1)[0]: b for b in re.split(r"\n(?=(?:II\.6\.15a|I\.27\.6), )", out)}
    for key, stated in (("I.27.6", lens), ("II.6.15a", dipole)):
        found = re.search(r"relative error vs the law on [^:]*: ([0-9.e+-]+)", blocks[key])
        assert found, f"{key}: no formula recovered, README says {stated:.1e}:\n{blocks[key]}"
        error = float(found.group(1))
        assert _agrees(error, stated, factor=3.0), f"{key}: {error:.1e}, README says {stated:.1e}"


@pytest.mark.slow
def test_readme_continual_learning(tmp_path):
    (stated,) = _readme_figure(r"RMSE on them stays ~([0-9.e-]+)")
    out = _run("continual_learning.py", tmp_path, quick=False)
    last = [line for line in out.splitlines() if line.strip().startswith("5 |")][0].split()
    kan_earlier, mlp_earlier = float(last[2]), float(last[5])
    assert _agrees(kan_earlier, stated, factor=3.0), f"KAN on earlier peaks {kan_earlier:.1e}, README says {stated}"
    assert mlp_earlier > 100 * kan_earlier  # "an MLP trained the same way forgets them"
