"""Live terminal display of a run: node states, progress bars with rate and ETA, epoch lines.

It is a Reporter, called from the run's thread; it writes to stderr so stdout stays for results.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

from workbench import events as E

_MARKS = {E.DONE: "✓", E.CACHED: "○", E.FAILED: "✗", E.SKIPPED: "-", E.STOPPED: "■"}


def format_seconds(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class TerminalDisplay:
    def __init__(
        self, pipeline: Any, quiet: bool = False, stream: TextIO | None = None, interval: float = 0.1
    ) -> None:
        self.pipeline = pipeline
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval
        self._last_draw = 0.0
        self._status_shown = False
        self._last_plain_progress = 0.0
        self._lock = threading.Lock()

    def __call__(self, event: E.Event) -> None:
        if self.quiet and not (isinstance(event, E.LogRecord) and event.level == "error"):
            return
        with self._lock:
            if isinstance(event, E.NodeStateChanged):
                self._state(event)
            elif isinstance(event, E.Progress):
                self._progress(event)
            elif isinstance(event, E.MetricsLogged) and event.kind == "epoch":
                values = "  ".join(f"{k}={_fmt_value(v)}" for k, v in event.values.items())
                self._line(f"  {event.node_id} epoch {event.step}: {values}")
            elif isinstance(event, E.LogRecord) and event.level in ("info", "warning"):
                prefix = "warning: " if event.level == "warning" else ""
                self._line(f"  {event.node_id + ': ' if event.node_id else ''}{prefix}{event.message}")

    def _state(self, event: E.NodeStateChanged) -> None:
        if event.state in (E.QUEUED,):
            return
        if event.state == E.RUNNING:
            node = self.pipeline.node(event.node_id) if event.node_id in self.pipeline else None
            self._line(f"▶ {event.node_id} ({node.type if node else '?'})")
            return
        mark = _MARKS.get(event.state, "·")
        took = f" {event.seconds:.2f}s" if event.seconds else ""
        message = f" — {event.message}" if event.message and event.state != E.FAILED else ""
        self._line(f"{mark} {event.node_id} {event.state}{took}{message}")

    def _progress(self, event: E.Progress) -> None:
        now = time.monotonic()
        parts = [event.label] if event.label else []
        if event.rate:
            parts.append(f"{event.rate:,.0f} {event.rate_unit}".strip())
        eta = event.extra.get("eta_total_s", event.eta_s) if event.extra else event.eta_s
        if eta is not None:
            parts.append(f"ETA {format_seconds(eta)}")
        if self.tty:
            if now - self._last_draw < self.interval and event.fraction < 1.0:
                return
            self._last_draw = now
            width = 24
            filled = int(round(event.fraction * width))
            bar = "█" * filled + "·" * (width - filled)
            text = f"  {event.node_id} [{bar}] {event.fraction * 100:5.1f}%  " + "  ".join(parts)
            self.stream.write("\r\x1b[2K" + text[:200])
            self.stream.flush()
            self._status_shown = True
        elif now - self._last_plain_progress >= 5.0:
            self._last_plain_progress = now
            self._line(f"  {event.node_id} {event.fraction * 100:.0f}%  " + "  ".join(parts))

    def _line(self, text: str) -> None:
        if self._status_shown:
            self.stream.write("\r\x1b[2K")
            self._status_shown = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def note(self, text: str) -> None:
        """A line from outside the run (the Ctrl-C handler): clears a drawn progress bar first.

        Waits at most a second for the run's thread to finish its own line, so a signal handler never hangs.
        """
        locked = self._lock.acquire(timeout=1.0)
        try:
            self._line(text)
        finally:
            if locked:
                self._lock.release()

    def close(self) -> None:
        with self._lock:
            if self._status_shown:
                self.stream.write("\r\x1b[2K")
                self.stream.flush()
                self._status_shown = False

    def summary(self, result: Any, out: TextIO | None = None) -> None:
        out = out or sys.stdout
        counts: dict[str, int] = {}
        for node in result.nodes.values():
            counts[node.state] = counts.get(node.state, 0) + 1
        states = ", ".join(f"{n} {s}" for s, n in counts.items())
        print(f"{result.status} in {result.seconds:.1f}s ({states})", file=out)
        for node_id, node in result.nodes.items():
            plain = {
                k: v
                for k, v in node.metrics.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            }
            if plain:
                figures = "  ".join(f"{k}={_fmt_value(v)}" for k, v in list(plain.items())[:10])
                print(f"  {node_id}: {figures}", file=out)
        for name, path in result.artifacts.items():
            print(f"  {name}: {path}", file=out)
        if result.run_dir:
            print(f"  run folder: {result.run_dir}", file=out)
