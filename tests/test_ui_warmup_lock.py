"""The app's exporter warm-up never runs alongside a run: torch.export's global tracing state raced the
optimiser in the run thread (KeyError 'custom' in torch.fx.traceback, seen in CI)."""

from __future__ import annotations

import pytest

from ui import app
from ui.runner import TORCH_EXCLUSIVE
from workbench.export import bundle


def test_the_warm_up_skips_the_exporter_while_a_run_holds_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(bundle, "warm_exporter", lambda: calls.append("export"))
    monkeypatch.setattr(app, "warm_imports", lambda: None)
    warmup = app._Warmup()
    with TORCH_EXCLUSIVE:  # what a run holds for its whole length
        warmup._run()
    assert calls == []
    warmup._run()
    assert calls == ["export"] and TORCH_EXCLUSIVE.acquire(blocking=False)
    TORCH_EXCLUSIVE.release()
