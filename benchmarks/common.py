"""Shared pieces of the benchmark scripts: markdown sections, parameter-matched MLPs (from
``kanlab.compare``; train them with ``kanlab.supervised.train_module``) and run metadata.

Benchmarks are scripts, not library code: they print tables and rewrite their own section of
``BENCHMARKS.md`` or ``CLAIMS.md`` (``write_section``), leaving the other sections alone.
"""
from __future__ import annotations

import contextlib
import io
import os
import platform
import re
import tempfile
import warnings
from pathlib import Path
from typing import Iterator

import torch

from kanlab.compare import mlp, mlp_params, mlp_width_for_params as mlp_widths_for_params

__all__ = ["CLAIMS", "CLAIMS_HEADER", "write_section", "machine", "mlp", "mlp_params", "mlp_widths_for_params",
           "sandbox"]

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLAIMS = os.path.join(ROOT, "CLAIMS.md")
CLAIMS_HEADER = "# Claims, measured\n"  # a new CLAIMS.md starts with this


def write_section(path: str, title: str, section: str,
                  header: str = "# kanlab benchmarks\n\nEvery number here comes from the command shown with it.\n\n") -> None:
    """Replace (or append) the section headed ``title`` (a ``## ...`` line) of a markdown file
    (created with ``header`` if missing)."""
    text = Path(path).read_text() if os.path.exists(path) else header
    pattern = re.compile(re.escape(title) + r"\n.*?(?=\n## |\Z)", re.S)
    # the match stops before the newline that precedes the next "## ": keep one blank line there
    text = pattern.sub(lambda _: section.rstrip("\n") + "\n", text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as fh:
        fh.write(text if text.endswith("\n") else text + "\n")


def machine() -> str:
    """One line naming the machine, torch version and thread count (for the tables' captions)."""
    return f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} thread(s)"


@contextlib.contextmanager
def sandbox(fresh_folder: bool = True) -> Iterator[None]:
    """Run a block with its printing and warnings silenced and, with ``fresh_folder``, in a new
    temporary working folder (pykan writes checkpoints and figures into the current one); the
    working folder is restored afterwards, also when the block raises."""
    cwd = os.getcwd()
    with contextlib.ExitStack() as stack:
        if fresh_folder:
            os.chdir(stack.enter_context(tempfile.TemporaryDirectory()))
            stack.callback(os.chdir, cwd)
        stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        yield
