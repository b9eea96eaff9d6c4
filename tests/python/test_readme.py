"""The README's Python section: its five lines to a first figure run from a fresh directory, and
every sigprop name its other examples use exists."""

import ast
import os
import re
import subprocess
import sys

import matplotlib.image

import sigprop
from conftest import ROOT, WAIT_S


def python_blocks():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("\n## Python\n"):]
    section = section[:section.index("\n## ", 1)]
    return section, re.findall(r"```python\n(.*?)```", section, re.S)


def test_five_lines_to_a_first_figure(tmp_path):
    section, blocks = python_blocks()
    first = section[section.index("five lines to a first figure"):]
    block = re.search(r"```python\n(.*?)```", first, re.S).group(1)
    assert len(block.strip().splitlines()) == 5
    env = dict(os.environ, PYTHONPATH=str(ROOT / "client" / "python"),
               SIGPROP_BUILD_DIR=str(sigprop._locate.build_dir().resolve()))
    run = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=WAIT_S)
    assert run.returncode == 0, run.stderr
    assert "1.0/1 points" in run.stderr  # the progress bar
    image = matplotlib.image.imread(tmp_path / "rho.png")
    assert image.shape[:2] == (1260, 1920)  # 6.4 × 4.2 inches at 300 dpi


def test_every_sigprop_name_in_the_examples_exists():
    _, blocks = python_blocks()
    assert len(blocks) >= 5
    names = set()
    for block in blocks:
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.Attribute):
                parts = []
                while isinstance(node, ast.Attribute):
                    parts.insert(0, node.attr)
                    node = node.value
                if isinstance(node, ast.Name) and node.id == "sigprop":
                    names.add(".".join(parts))
    assert {"presets.paper_a_standard", "sweep", "plot.live", "read_results"} <= names
    for name in names:
        value = sigprop
        for part in name.split("."):
            value = getattr(value, part)
