"""The core never imports Qt: checked by import-linter and by running the core with Qt made unimportable."""

import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path

import workbench

ROOT = Path(__file__).resolve().parent.parent

BLOCKER = r"""
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6', 'ui'):
            raise ImportError(f'{name} is blocked in this test')
sys.meta_path.insert(0, Block())
"""


def all_core_modules() -> list[str]:
    return [
        m.name
        for m in pkgutil.walk_packages(workbench.__path__, "workbench.")
        if not m.name.endswith("__main__")
    ]


def test_every_core_module_imports_and_runs_with_qt_absent(tmp_path):
    script = (
        BLOCKER
        + f"""
import importlib, os
os.environ['WORKBENCH_DATA_DIR'] = {str(tmp_path)!r}
sys.path.insert(0, {str(ROOT / "tests")!r})
for name in {all_core_modules()!r}:
    importlib.import_module(name)
from fakes import fake_registry
from workbench.graph import Pipeline
from workbench.execution.executor import Executor
p = Pipeline(fake_registry())
p.add('fake.source', value=4); p.add('fake.add', k=1); p.connect('source.table', 'add.table')
assert Executor().run(p).output('add') == 5
bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'ui')]
assert not bad, bad
print('ok')
"""
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")


def test_import_linter_contract_holds():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "import-linter is part of the dev extra"
    done = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "KEPT" in done.stdout


def test_catalog_loads_without_torch():
    script = (
        "import sys; from workbench.registry import builtin_registry; r = builtin_registry(); "
        "heavy = [m for m in ('torch', 'pandas', 'sklearn') if m in sys.modules]; "
        "assert not heavy, heavy; print(len(r))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_no_module_is_imported_from_ui_in_the_core_source():
    pattern = re.compile(r"^\s*(from|import)\s+(PySide6|pyqtgraph|shiboken6|ui)\b", re.MULTILINE)
    offenders = [str(p) for p in (ROOT / "workbench").rglob("*.py") if pattern.search(p.read_text("utf-8"))]
    assert offenders == []
