"""The audio package depends on nothing else in the project and does nothing at import."""

import ast
import subprocess
import sys
from pathlib import Path

import audio

PACKAGE = Path(audio.__file__).parent
ALLOWED = set(sys.stdlib_module_names) | {
    "audio",
    "pydub",
    "numpy",
    "cn2an",
    "pypinyin",
}


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_audio_imports_only_stdlib_and_its_own_libraries() -> None:
    for path in sorted(PACKAGE.glob("**/*.py")):
        assert imported_roots(path) <= ALLOWED, path.name


def test_import_loads_no_engine_and_starts_nothing() -> None:
    code = (
        "import sys, threading, multiprocessing, audio\n"
        "assert 'pydub' not in sys.modules, 'engine loaded'\n"
        "assert threading.active_count() == 1, 'thread started'\n"
        "assert not multiprocessing.active_children(), 'process started'\n"
    )
    root = str(PACKAGE.parent)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
