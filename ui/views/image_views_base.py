"""What the image views share: uint8 pixels to pixmaps, and jobs that run in a worker thread and report back
in the GUI thread (newest job only)."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QImage, QPixmap

THUMB = 72


def to_pixmap(pixels: np.ndarray, side: int = THUMB) -> QPixmap:
    """A pixmap of uint8 (h, w, 1 | 3) pixels scaled to ``side`` (nearest: small pictures stay crisp)."""
    data = np.ascontiguousarray(pixels if pixels.ndim == 3 else pixels[:, :, None])
    h, w, c = data.shape
    fmt = QImage.Format.Format_Grayscale8 if c == 1 else QImage.Format.Format_RGB888
    image = QImage(data.data, w, h, w * c, fmt).copy()  # copy: the numpy buffer may go away
    return QPixmap.fromImage(image).scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.FastTransformation)  # fmt: skip


class _Postman(QObject):
    """Carries finished jobs to the GUI thread. One, made in the GUI thread and never deleted: the worker
    threads reference only it, never a view's QObject, so a view closed while its job runs is never released
    by the worker (Shiboken would defer that C++ deletion to the main thread)."""

    delivered = Signal(object, int, object)  # weakref to a Jobs, job number, result

    def __init__(self) -> None:
        super().__init__()
        self.delivered.connect(self._deliver)

    @Slot(object, int, object)
    def _deliver(self, target: Any, number: int, result: object) -> None:
        jobs = target()
        if jobs is None:
            return
        try:
            jobs.deliver(number, result)
        except RuntimeError:  # the view was deleted (its C++ half) while the job ran
            pass


_POSTMAN: list[_Postman] = []


class Jobs(QObject):
    """Runs ``work()`` in a thread and hands its result to ``on_done`` in the GUI thread, newest job only."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.generation = 0
        self._callbacks: dict[int, Callable[[Any], None]] = {}

    def start(self, work: Callable[[], Any], on_done: Callable[[Any], None]) -> None:
        """Call from the GUI thread; ``work`` must not hold Qt objects (it runs, and is dropped, in a worker)."""
        if not _POSTMAN:
            _POSTMAN.append(_Postman())
        postman, target = _POSTMAN[0], weakref.ref(self)
        self.generation += 1
        number = self.generation
        self._callbacks = {number: on_done}

        def run() -> None:
            try:
                result: Any = work()
            except Exception as exc:  # noqa: BLE001 - shown in the view, never a crash
                result = exc
            postman.delivered.emit(target, number, result)

        threading.Thread(target=run, name="images-view", daemon=True).start()

    def deliver(self, number: int, result: object) -> None:
        callback = self._callbacks.pop(number, None)
        if callback is not None and number == self.generation:
            callback(result)

    @property
    def busy(self) -> bool:
        return bool(self._callbacks)
