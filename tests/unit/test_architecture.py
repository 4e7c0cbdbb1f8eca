"""The layering rules of STYLE.md, checked on the source tree.

- import-linter contracts (pyproject.toml `[tool.importlinter]`): hal never imports firmware,
  firmware never imports drivers, drivers never import firmware, pure protocol cores do no I/O.
- No `print()` in firmware/, hal/ or drivers/: output goes through logging; only the command
  line (`cli.py`) and benchmarks (`bench`) write to stdout.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("firmware", "hal", "drivers")
PRINT_ALLOWED_FILES = {"cli.py", "bench.py"}
PRINT_ALLOWED_DIRS = {"bench"}


def _lint_imports() -> str:
    beside_python = Path(sys.executable).with_name("lint-imports")
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("lint-imports")
    if found is None:
        pytest.fail("lint-imports not installed: run `./setup.sh test` (import-linter)")
    return found


def test_import_contracts_hold() -> None:
    result = subprocess.run(
        [_lint_imports(), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"lint-imports failed:\n{result.stdout}\n{result.stderr}"


def _print_calls(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "print"
    ]


def test_no_print_outside_cli_and_bench() -> None:
    offenders: list[str] = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if path.name in PRINT_ALLOWED_FILES or PRINT_ALLOWED_DIRS & set(relative.parts):
                continue
            offenders += _print_calls(path)
    assert not offenders, "print() outside cli.py/bench (use logging):\n" + "\n".join(offenders)
