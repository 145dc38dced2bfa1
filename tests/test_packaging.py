"""Desktop integration scripts (fast, on a stand-in build) and the real PyInstaller build (marked, slow).

The real build: ``.venv/bin/pytest -m packaging`` (or ``python packaging/build.py --self-test``).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) + ("/" if p.is_dir() else "") for p in folder.rglob("*")}


def test_install_registers_desktop_entry_mime_and_icons_then_uninstall_removes_exactly_that(tmp_path):
    dist = tmp_path / "dist"
    (dist / "_internal").mkdir(parents=True)
    exe = dist / "model-workbench"
    exe.write_text("#!/bin/sh\necho fake\n")
    exe.chmod(0o755)
    prefix = tmp_path / "prefix"
    (prefix / "share" / "applications").mkdir(parents=True)
    (prefix / "share" / "applications" / "other.desktop").write_text("[Desktop Entry]\n")
    before = tree(prefix)
    env = dict(os.environ, MODEL_WORKBENCH_DIST=str(dist), PATH="/usr/bin:/bin")
    done = subprocess.run(
        ["bash", str(ROOT / "packaging" / "install-linux.sh"), str(prefix)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    desktop = (prefix / "share" / "applications" / "model-workbench.desktop").read_text()
    assert f"Exec={prefix}/lib/model-workbench/model-workbench %f" in desktop
    assert "MimeType=application/x-model-workbench-pipeline;" in desktop
    mime = (prefix / "share" / "mime" / "packages" / "model-workbench.xml").read_text()
    assert '<glob pattern="*.pipeline.json"' in mime
    assert (prefix / "share" / "icons" / "hicolor" / "256x256" / "apps" / "model-workbench.png").exists()
    assert (prefix / "share" / "icons" / "hicolor" / "scalable" / "apps" / "model-workbench.svg").exists()
    launcher = prefix / "bin" / "model-workbench"
    assert subprocess.run([str(launcher)], capture_output=True, text=True).stdout.strip() == "fake"
    done = subprocess.run(
        ["bash", str(ROOT / "packaging" / "uninstall-linux.sh"), str(prefix)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert tree(prefix) == before  # exactly what was there before, no more, no less


def test_icons_exist_for_every_platform():
    icons = ROOT / "packaging" / "icons"
    assert (icons / "model-workbench.ico").read_bytes()[:4] == b"\0\0\1\0"
    assert (icons / "model-workbench.icns").read_bytes()[:4] == b"icns"
    for size in (16, 32, 48, 128, 256, 512):
        assert (icons / "png" / f"model-workbench-{size}.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.packaging
def test_pyinstaller_build_and_frozen_self_test():
    done = subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "build.py"), "--self-test"], cwd=ROOT, timeout=3600
    )
    assert done.returncode == 0
