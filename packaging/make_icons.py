"""Render the one app icon (resources/icons/app.svg) for the app and for installers.

Writes resources/icons/app-<size>.png (the window icon, so frozen builds need no SVG plugin) and
packaging/icons/ (the SVG, PNG sizes for Linux, a Windows .ico and a macOS .icns; both formats allow embedded
PNG images). Run after changing the SVG: ``.venv/bin/python packaging/make_icons.py``; outputs are committed.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICNS_TYPES = {16: b"icp4", 32: b"icp5", 64: b"icp6", 128: b"ic07", 256: b"ic08", 512: b"ic09"}


def render_pngs(svg: Path) -> dict[int, bytes]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg}: not a valid SVG")
    out = {}
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buffer, "PNG")
        out[size] = bytes(data.data())
    return out


def write_ico(pngs: dict[int, bytes], path: Path) -> None:
    sizes = [s for s in (16, 24, 32, 48, 64, 128, 256) if s in pngs]
    header = struct.pack("<HHH", 0, 1, len(sizes))
    offset = 6 + 16 * len(sizes)
    entries, blobs = b"", b""
    for size in sizes:
        blob = pngs[size]
        dim = 0 if size >= 256 else size
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(blob), offset + len(blobs))
        blobs += blob
    path.write_bytes(header + entries + blobs)


def write_icns(pngs: dict[int, bytes], path: Path) -> None:
    body = b"".join(code + struct.pack(">I", len(pngs[s]) + 8) + pngs[s] for s, code in ICNS_TYPES.items())
    path.write_bytes(b"icns" + struct.pack(">I", len(body) + 8) + body)


def main() -> None:
    app_icons = HERE.parent.parent / "resources" / "icons"
    svg = app_icons / "app.svg"
    (HERE / "model-workbench.svg").write_bytes(svg.read_bytes())
    pngs = render_pngs(svg)
    for size in (16, 32, 48, 64, 128, 256, 512):
        (app_icons / f"app-{size}.png").write_bytes(pngs[size])
    (HERE / "png").mkdir(exist_ok=True)
    for size, blob in pngs.items():
        (HERE / "png" / f"model-workbench-{size}.png").write_bytes(blob)
    write_ico(pngs, HERE / "model-workbench.ico")
    write_icns(pngs, HERE / "model-workbench.icns")
    print(f"wrote {len(pngs)} PNGs, model-workbench.ico and model-workbench.icns in {HERE}")


if __name__ == "__main__":
    main()
