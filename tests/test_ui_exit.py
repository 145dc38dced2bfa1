"""The app process exits cleanly after using the clipboard (a Python-made QMimeData there crashed at exit)."""

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import sys
sys.path.insert(0, {tests!r})
from PySide6.QtWidgets import QApplication
from fakes import fake_registry
from ui.main_window import MainWindow
app = QApplication.instance() or QApplication([])
window = MainWindow(fake_registry())
window.show()
window.document.pipeline.add("fake.source")
for item in window.scene.items():
    item.setSelected(True)
assert window.edits.copy()
app.processEvents()
print("copied:", "workbench_clipboard" in QApplication.clipboard().text())
"""


def test_process_exits_cleanly_after_copy(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", WORKBENCH_DATA_DIR=str(tmp_path))
    code = SCRIPT.format(tests=str(Path(__file__).parent))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "copied: True" in done.stdout
