"""Packaging facts: one version source, `kanlab --version`, the license text and py.typed ship,
and the declared minimum versions cover what the code and the metadata use."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

import kanlab
from kanlab.cli import main

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib")  # Python >= 3.11


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _minimum(requirements: list, name: str) -> tuple:
    """The ``>=`` bound of ``name`` in a requirement list, as a tuple of ints."""
    for req in requirements:
        found = re.match(rf"{name}\s*(?:\[.*\])?\s*>=\s*([0-9.]+)", req.split(";")[0].replace(" ", ""))
        if found:
            return tuple(int(p) for p in found.group(1).split("."))
    raise AssertionError(f"{name} has no >= bound in {requirements}")


def test_version_flag_prints_the_package_version_and_exits_0() -> None:
    done = subprocess.run([sys.executable, "-m", "kanlab", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"kanlab {kanlab.__version__}"


def test_version_flag_in_process(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"kanlab {kanlab.__version__}"


def test_version_has_one_source() -> None:
    project = _pyproject()
    assert "version" not in project["project"], "the version is written in pyproject.toml and kanlab/__init__.py"
    assert "version" in project["project"]["dynamic"]
    attr = project["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    module, name = attr.rsplit(".", 1)
    assert module == "kanlab" and getattr(kanlab, name) == kanlab.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+(\w+\d*)?", kanlab.__version__)


def test_license_and_py_typed_ship() -> None:
    project = _pyproject()
    for pattern in project["project"]["license-files"]:
        assert list(ROOT.glob(pattern)), f"license-files entry {pattern!r} matches no file"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "MIT License" in text and "Copyright (c) 2026 the kanlab authors" in text
    assert (Path(kanlab.__file__).parent / "py.typed").is_file()
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["kanlab"]


def test_declared_minimums_cover_what_is_used() -> None:
    project = _pyproject()
    # kanlab.kernels uses torch.library.custom_op / register_autograd (torch 2.4)
    assert _minimum(project["project"]["dependencies"], "torch") >= (2, 4)
    assert hasattr(__import__("torch").library, "custom_op")
    # a string `license = "MIT"` (SPDX expression) and license-files need setuptools 77
    if isinstance(project["project"].get("license"), str):
        assert _minimum(project["build-system"]["requires"], "setuptools") >= (77,)
