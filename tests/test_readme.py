"""README.md's code runs as written: every ```python block, in order, in one namespace (a fresh
working directory), and every value the README states after ``# ->`` is asserted.

A ``# ->`` comment ends a top-level expression line (``print(e)`` counts as ``e``), optionally
followed by ``; a note``: ``# -> 1.2e-02``
asserts a number to within ``README_RTOL`` relative (the README says so), ``# -> 'text'`` or any other
Python literal asserts equality. Numbers are the outputs of seeded runs on one CPU thread.
"""
from __future__ import annotations

import ast
import math
import re
from pathlib import Path
from typing import Any, Iterator, List, Tuple

import pytest
import torch

README = Path(__file__).resolve().parent.parent / "README.md"
README_RTOL = 0.25  # the README's stated tolerance for the numbers it shows
ARROW = re.compile(r"#\s*->\s*([^;]+?)\s*(?:;.*)?$")  # "# -> value" or "# -> value; a note"


def python_blocks(text: str) -> List[Tuple[int, str]]:
    """The ```python blocks of a markdown text as (first line number, code)."""
    blocks, code, start = [], None, 0
    for n, line in enumerate(text.splitlines(), 1):
        if code is None and line.strip() == "```python":
            code, start = [], n + 1
        elif code is not None and line.strip() == "```":
            blocks.append((start, "\n".join(code) + "\n"))
            code = None
        elif code is not None:
            code.append(line)
    assert code is None, f"README.md: the ```python block opened at line {start - 1} is never closed"
    return blocks


def statements(code: str, first_line: int) -> Iterator[Tuple[ast.stmt, Any]]:
    """Top-level statements of one block with their stated value (``None`` if none is stated).
    A ``# ->`` anywhere but at the end of a top-level expression line is an error."""
    tree = ast.parse(code)
    lines = code.splitlines()
    claimed = set()
    for node in tree.body:
        match = ARROW.search(lines[node.end_lineno - 1])
        if match is None:
            yield node, None
            continue
        where = f"README.md line {first_line + node.end_lineno - 1}"
        assert isinstance(node, ast.Expr), f"{where}: '# ->' must end an expression line"
        claimed.add(node.end_lineno)
        yield node, (ast.literal_eval(match.group(1)), where)
    stray = [first_line + n for n, line in enumerate(lines) if ARROW.search(line) and n + 1 not in claimed]
    assert not stray, f"README.md lines {stray}: '# ->' outside a top-level expression line"


def check_value(got: Any, stated: Any, where: str) -> None:
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if isinstance(stated, (int, float)) and not isinstance(stated, bool):
        assert isinstance(got, (int, float)) and math.isfinite(got), f"{where}: got {got!r}, stated {stated}"
        assert abs(got - stated) <= README_RTOL * abs(stated), f"{where}: got {got:.4g}, the README says {stated}"
    else:
        assert got == stated, f"{where}: got {got!r}, the README says {stated!r}"


def run_block(code: str, first_line: int, namespace: dict) -> None:
    for node, stated in statements(code, first_line):
        if stated is None:
            exec(compile(ast.Module([node], []), f"README.md:{first_line}", "exec"), namespace)
            continue
        expr = node.value
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "print" \
                and len(expr.args) == 1 and not expr.keywords:
            expr = expr.args[0]
        got = eval(compile(ast.Expression(expr), f"README.md:{first_line}", "eval"), namespace)
        check_value(got, *stated)


def test_harness_reads_values_and_rejects_misplaced_arrows() -> None:
    code = "a = 2\nprint(a * 0.5)  # -> 1.0; half of a\n'x' + 'y'  # -> 'xy'\n"
    assert [stated for _, stated in statements(code, 10)] == [None, (1.0, "README.md line 11"),
                                                             ("xy", "README.md line 12")]
    namespace: dict = {}
    run_block(code, 10, namespace)
    with pytest.raises(AssertionError, match="line 11: got 1.5, the README says 1.0"):
        run_block("a = 3\nprint(a * 0.5)  # -> 1.0\n", 10, {})
    with pytest.raises(AssertionError, match="must end an expression line"):
        list(statements("b = 1  # -> 1\n", 1))
    with pytest.raises(AssertionError, match="outside a top-level expression line"):
        list(statements("for i in range(2):\n    i  # -> 1\n    i\n", 1))
    assert python_blocks("x\n```python\na = 1\n```\n") == [(3, "a = 1\n")]


def test_readme_code_runs_and_states_true_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    assert blocks, "README.md has no ```python block"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    namespace: dict = {"__name__": "__readme__"}
    try:
        for first_line, code in blocks:
            run_block(code, first_line, namespace)
    finally:
        torch.set_num_threads(threads)
        import matplotlib.pyplot as plt
        plt.close("all")
