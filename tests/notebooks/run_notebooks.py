#!/usr/bin/python3
"""Executes the example notebooks headless and checks what a reader would see.

    run_notebooks.py [--self-test] [--executed DIR] --server BUILD/server/sigprop-server \\
        --build BUILD --package client/python examples/notebooks/*.ipynb

Each notebook runs top to bottom in Debian's "python3" kernel (nbclient, ipykernel), in a fresh
temporary directory outside the checkout, with SIGPROP_SERVER the build's server, SIGPROP_BUILD_DIR
the build (the generated stubs) and the package on PYTHONPATH: what `sigprop.embedded()` needs and
nothing from the working directory. A notebook passes when it was committed with its outputs
cleared, no cell raised, and every cell tagged "figure" drew an image/png (what cells print, on
stdout or stderr, is not checked). --self-test first feeds the checks notebooks broken on purpose (a
cell that raises, a figure cell that draws nothing, no figure cell, a stored output) and fails
unless each is reported. --executed DIR keeps the executed notebooks, outputs and all, to look at.
Exit status: 0 all passed, 1 a check failed, 2 usage.
"""

import argparse
import os
import pathlib
import re
import sys
import tempfile
import time

try:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
except ImportError as missing:
    sys.exit(f"run_notebooks: {missing}; install python3-nbclient, python3-nbformat and "
             "python3-ipykernel (deploy/install-deps.sh)")

KERNEL = "python3"
FIGURE_TAG = "figure"
# No cell of these notebooks runs for long; a stuck server or kernel fails the cell, not ctest.
CELL_TIMEOUT_S = 300
# IPython colours its tracebacks; the log shows them as text.
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def committed_problems(notebook):
    """What a committed notebook must not carry: outputs and execution counts."""
    return [f"cell {index}: committed with outputs or an execution count (clear them)"
            for index, cell in enumerate(notebook.cells)
            if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]


def output_problems(notebook):
    """What an executed notebook must show: no error output, a PNG in every figure cell."""
    problems = []
    figure_cells = 0
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        for output in cell.outputs:
            if output.output_type == "error":
                problems.append(f"cell {index}: {output.ename}: {output.evalue}")
        if FIGURE_TAG in cell.metadata.get("tags", []):
            figure_cells += 1
            if not any("image/png" in output.get("data", {}) for output in cell.outputs):
                shown = sorted({kind for output in cell.outputs for kind in output.get("data", {})})
                problems.append(f"cell {index}: tagged {FIGURE_TAG!r} but drew no image/png "
                                f"(outputs: {shown or 'none'})")
    if figure_cells == 0:
        problems.append(f"no cell is tagged {FIGURE_TAG!r}: nothing checks the figures")
    return problems


def execute(notebook, directory):
    """Runs every cell in `directory`; returns the problems found (a raising cell stops the run)."""
    client = NotebookClient(notebook, kernel_name=KERNEL, timeout=CELL_TIMEOUT_S,
                            resources={"metadata": {"path": str(directory)}})
    try:
        client.execute()
    except CellExecutionError as error:
        # The cells after it did not run: their missing figures would only repeat this.
        return [f"a cell raised:\n{_COLOUR.sub('', str(error)).strip()}"]
    return output_problems(notebook)


def check(path, executed=None):
    """Executes the notebook at `path` in a temporary directory; returns its problems. With
    `executed` (a directory), writes the executed notebook there under the same name."""
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    problems = committed_problems(notebook)
    with tempfile.TemporaryDirectory(prefix="sigprop-notebook-") as directory:
        started = time.monotonic()
        problems += execute(notebook, directory)
        elapsed = time.monotonic() - started
        left = sorted(p.name for p in pathlib.Path(directory).iterdir())
    if executed:
        executed.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, executed / path.name)
    figures = sum(1 for cell in notebook.cells if cell.cell_type == "code"
                  for output in cell.outputs if "image/png" in output.get("data", {}))
    print(f"{path}: {len(notebook.cells)} cells, {figures} figures, {elapsed:.1f} s"
          + (f"; left in its working directory: {left}" if left else ""), flush=True)
    return problems


def self_test():
    """Notebooks broken on purpose must each be reported; returns what this check got wrong."""
    new_cell = nbformat.v4.new_code_cell

    def figure():
        return new_cell("%matplotlib inline\nfrom matplotlib.figure import Figure\n"
                        "f = Figure(); f.add_subplot().plot([0, 1])\nf",
                        metadata={"tags": [FIGURE_TAG]})

    cases = {
        "a cell that raises": [figure(), new_cell("raise RuntimeError('broken on purpose')")],
        "a figure cell that draws nothing":
            [new_cell("print('no figure')", metadata={"tags": [FIGURE_TAG]})],
        "no figure cell": [new_cell("1 + 1")],
    }
    failures = []
    with tempfile.TemporaryDirectory(prefix="sigprop-notebook-") as directory:
        for name, cells in cases.items():
            found = execute(nbformat.v4.new_notebook(cells=cells), directory)
            print(f"self-test, {name}: " + ("; ".join(p.splitlines()[-1] for p in found)
                                            if found else "NOT reported"))
            if not found:
                failures.append(f"self-test: {name} was not reported")
        sound = nbformat.v4.new_notebook(cells=[figure()])
        found = execute(sound, directory)
        if found:
            failures.append(f"self-test: a sound notebook was reported: {found}")
        if not committed_problems(sound):
            failures.append("self-test: stored outputs were not reported")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", help="the sigprop-server binary of the build")
    parser.add_argument("--build", help="the CMake build tree (its python/sigprop_pb stubs)")
    parser.add_argument("--package", help="the directory that holds the sigprop package")
    parser.add_argument("--executed", type=pathlib.Path,
                        help="write the executed notebooks, outputs and all, into this directory")
    parser.add_argument("--self-test", action="store_true",
                        help="first check that notebooks broken on purpose are reported")
    parser.add_argument("notebooks", nargs="*", type=pathlib.Path)
    args = parser.parse_args()
    if not args.self_test and not args.notebooks:
        parser.error("no notebooks given")
    if args.notebooks and not (args.server and args.build and args.package):
        parser.error("--server, --build and --package are required to run notebooks")
    # The kernels inherit this environment. ipykernel's debugger otherwise warns on stderr about
    # the frozen modules of Debian's python3.
    os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    problems = self_test() if args.self_test else []
    if args.notebooks:
        os.environ["SIGPROP_SERVER"] = str(pathlib.Path(args.server).resolve())
        os.environ["SIGPROP_BUILD_DIR"] = str(pathlib.Path(args.build).resolve())
        os.environ["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(pathlib.Path(args.package).resolve()), os.environ.get("PYTHONPATH")]))
        problems += [f"{path}: {problem}" for path in args.notebooks
                     for problem in check(path, args.executed)]
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
