"""Keep None/True/False alive under a PySide6 reference-count bug (CPython < 3.12 only).

Measured with PySide6 6.12 on Python 3.11: every call of a void QPainter method (setPen, drawLine,
drawPath, setRenderHint …) returns None without taking a reference, so None's count drops by one per call.
A pyqtgraph plot repaint makes ~11 such calls; None started at ~4,500 references, so a live training plot
crashed the interpreter ("Fatal Python error: none_dealloc") within minutes. Python 3.12+ makes these
objects immortal; here we do the same by adding a huge count once. They are never freed anyway.
"""

from __future__ import annotations

import sys

PIN = 1 << 40  # ~1e12 leaked decrefs before it could matter


def pin_singletons() -> bool:
    """Add PIN references to None, True, False, Ellipsis, NotImplemented; True when applied."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    if hasattr(sys, "gettotalrefcount"):  # a debug build: the refcount is not the first field
        return False
    import ctypes

    for obj in (None, True, False, Ellipsis, NotImplemented):
        count = ctypes.c_ssize_t.from_address(id(obj))
        if count.value < PIN:
            count.value += PIN
    return True
