"""Test setup shared by every test: headless Qt, a private user-data folder, fake nodes on the path."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

# Before anything imports Qt: no display here or in CI.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Runs, recovery files and settings of tests never touch the real user folders.
_DATA = tempfile.mkdtemp(prefix="workbench-tests-")
os.environ["WORKBENCH_DATA_DIR"] = _DATA
os.environ.setdefault("XDG_CONFIG_HOME", str(Path(_DATA) / "config"))

sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh user-data folder for tests that look at runs or recovery files."""
    folder = tmp_path / "userdata"
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(folder))
    return folder


@pytest.fixture(autouse=True)
def _one_torch_thread() -> None:
    """Two cores are shared by the test run; one thread keeps timings steady (no effect if torch is absent)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)
