"""The main job: `kanlab demo` trains the seed's function and writes its plots."""
import subprocess
import sys

from kanlab.cli import main


def test_demo_writes_plots(tmp_path, capsys) -> None:
    assert main(["demo", "--out", str(tmp_path), "--steps", "3"]) == 0
    out = capsys.readouterr().out
    for grid in (3, 5, 10, 20):
        assert f"\n{grid:>5} " in out
    for name in ("loss_curve.png", "function_comparison.png", "kan_diagram.png"):
        assert (tmp_path / name).stat().st_size > 10_000


def test_python_m_kanlab_help() -> None:
    done = subprocess.run([sys.executable, "-m", "kanlab", "demo", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "--out" in done.stdout
