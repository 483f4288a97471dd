"""pykan 0.2.8's own docstring examples, run on pykan and on kanlab (``from kan import *`` changed).

Every ``>>>`` example in the docstrings of pykan's ``MultKAN.py`` (the ``KAN`` class users call)
is extracted from the installed package, one example per "Example" section, and run twice in a
fresh namespace and a fresh temporary folder, output silenced: as written, and with ``kan``
replaced by ``kanlab`` in its import lines. Five examples have no import line (they continue the
page's first example); they get its ``from kan import *``. An example *runs* when it raises nothing; the
printed values are not compared (most examples print shapes or draw).

    python -m benchmarks.pykan_docstrings            # the table, and which examples fail and why
    python -m benchmarks.pykan_docstrings --out ""   # print only
"""
from __future__ import annotations

import argparse
import ast
import importlib
import os
import re
from typing import List, NamedTuple, Optional

from .common import machine, sandbox, write_section

SECTION = "## pykan's docstring examples (issue 14)"


class Example(NamedTuple):
    method: str
    code: str


def examples(source_file: str) -> List[Example]:
    """Each "Example" section's ``>>>``/``...`` lines of every function docstring in the file."""
    tree = ast.parse(open(source_file).read())
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            continue
        doc = ast.get_docstring(node) or ""
        for section in re.split(r"\n\s*Example\s*\d*\s*\n", doc)[1:]:
            lines = [ln.strip() for ln in section.splitlines()]
            code = [ln[4:] for ln in lines if ln.startswith(">>> ") or ln.startswith("... ")]
            if code:
                found.append(Example(node.name, "\n".join(code)))
    return found


def run(example: Example, lib: str) -> Optional[str]:
    """None when the example runs on ``lib``, else the error in one line."""
    code = example.code if "import" in example.code else "from kan import *\n" + example.code
    code = code if lib == "kan" else re.sub(r"\bkan\b", "kanlab", code)
    import matplotlib.pyplot as plt

    try:
        with sandbox():
            exec(compile(code, f"<{example.method}>", "exec"), {"__name__": "__example__"})
    except Exception as err:  # a failing example is the measurement
        return f"{type(err).__name__}: {str(err).splitlines()[0][:90] if str(err) else ''}"
    finally:
        plt.close("all")
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="BENCHMARKS.md", help="markdown file to update ('' to skip)")
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    kan = importlib.import_module("kan")  # benchmark-only dependency: pip install pykan==0.2.8
    source = os.path.join(os.path.dirname(kan.__file__), "MultKAN.py")
    rows = ["| method | pykan 0.2.8 | kanlab |", "|---|---|---|"]
    counts = {"kan": 0, "kanlab": 0}
    todo = examples(source)
    for ex in todo:
        errors = {lib: run(ex, lib) for lib in ("kan", "kanlab")}
        for lib, err in errors.items():
            counts[lib] += err is None
        cells = ["runs" if err is None else f"fails: `{err}`" for err in errors.values()]
        rows.append(f"| `{ex.method}` | " + " | ".join(c.replace("|", "/") for c in cells) + " |")
        print(rows[-1], flush=True)
    summary = (f"Examples that run: pykan {counts['kan']} of {len(todo)}, kanlab {counts['kanlab']} of "
               f"{len(todo)}.")
    print(summary)
    if args.out:
        header = (f"Command: `python -m benchmarks.pykan_docstrings`  \nMachine: {machine()}. Every `>>>` "
                  "example in pykan 0.2.8's `MultKAN.py` docstrings, run as written (`from kan import *` added where "
                  "an example has no import) and with `kan` replaced by `kanlab`, each in a fresh namespace and folder; *runs*: raises nothing (printed values are "
                  "not compared).")
        reading = ("Where kanlab refuses by design: three examples build a 2-input model on "
                   "`create_dataset(f, n_var=3)`; pykan's forward silently keeps the first two columns, kanlab's "
                   "raises naming the shapes. Two call `fix_symbolic` or `get_range` right after `model(x)`: "
                   "pykan's forward records every edge's activations, kanlab's keeps none (the hot path), and the "
                   "error says to call `model.get_act(x)` first (docs/pykan.md).")
        write_section(args.out, SECTION, SECTION + "\n\n" + header + "\n\n" + "\n".join(rows) + "\n\n" + summary + " " + reading + "\n")


if __name__ == "__main__":
    main()
