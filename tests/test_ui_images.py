"""The Images dock: thumbnails per class, the augmentation preview grid, the mistakes gallery with its
integrated-gradients overlay, and the whole thing in the real window (preview before any run, gallery after)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("PIL")
from PySide6.QtCore import QSettings  # noqa: E402
from test_images_core import bars, run_node  # noqa: E402

from ui.views.image_views import AugmentPreview, MistakesGallery, ThumbnailGrid  # noqa: E402


def test_thumbnails_show_every_class_with_its_count(qtbot, tmp_path: Path) -> None:
    out, _ = run_node("data.images", {"path": str(bars(tmp_path / "p", per_class=10)), "size": 12})
    table = out["table"]
    view = ThumbnailGrid()
    qtbot.addWidget(view)
    view.show_table(table, table.attrs["workbench.images"])
    qtbot.waitUntil(lambda: len(view.sections) == 2, timeout=30_000)
    assert view.counts == {"horizontal": 10, "vertical": 10}
    assert [len(g.cells) for g in view.sections.values()] == [8, 8]  # at most 8 per class
    assert "20 pictures in 2 classes" in view.title.text() and "12×12 grey" in view.title.text()


def test_augmentation_preview_redraws_when_settings_change(qtbot, tmp_path: Path) -> None:
    picture = next(bars(tmp_path / "p", per_class=1).glob("vertical/*.png"))
    view = AugmentPreview()
    qtbot.addWidget(view)
    settings = {"size": 12, "policy": "squash", "channels": 1}
    view.show_preview(str(picture), settings, {"rotation": 0, "scale_min": 1, "translate": 0, "hflip": 0,
                                                "brightness": 0, "contrast": 0})  # fmt: skip
    qtbot.waitUntil(lambda: len(view.grid.cells) == 9, timeout=30_000)
    plain = [d.copy() for d in view.draws]
    assert all(np.array_equal(plain[0], d) for d in plain[1:])  # nothing on: eight copies of the picture
    view.show_preview(str(picture), settings, {"rotation": 45, "scale_min": 1, "translate": 0.2, "hflip": 0})
    qtbot.waitUntil(
        lambda: not view.jobs.busy and not np.array_equal(view.draws[1], plain[1]), timeout=30_000
    )
    assert len(view.draws) == 9 and np.array_equal(view.draws[0], plain[0])  # the original stays first
    assert len({d.tobytes() for d in view.draws[1:]}) > 3
    before = [d.copy() for d in view.draws]
    view.again.click()  # new draws of the same settings
    qtbot.waitUntil(
        lambda: not view.jobs.busy and not np.array_equal(view.draws[1], before[1]), timeout=30_000
    )


def _model(channels: int = 1):
    from workbench.engine.trained import TrainedModel
    from workbench.engine.vision import build_vision, vision_architecture

    arch = vision_architecture("cnn", {"blocks": 1, "width": 4}, [12, 12, channels], 2, "binary")
    images = {
        "column": "path",
        "size": 12,
        "policy": "squash",
        "channels": channels,
        "mean": [0.5],
        "std": [0.25],
    }
    return TrainedModel(module=build_vision(arch).eval(), architecture=arch, task="classification",
                        classes=["horizontal", "vertical"], target="label", images=images)  # fmt: skip


def test_mistakes_gallery_worst_first_and_explains_one(qtbot, tmp_path: Path) -> None:
    paths = sorted(str(p) for p in bars(tmp_path / "p", per_class=3).glob("*/*.png"))
    table = pd.DataFrame(
        {
            "split": ["test"] * 6,
            "path": paths,
            "actual": ["horizontal"] * 3 + ["vertical"] * 3,
            "prediction": ["vertical", "horizontal", "vertical", "vertical", "horizontal", "horizontal"],
            "proba_horizontal": [0.4, 0.9, 0.1, 0.2, 0.7, 0.55],
            "proba_vertical": [0.6, 0.1, 0.9, 0.8, 0.3, 0.45],
        }
    )
    view = MistakesGallery()
    qtbot.addWidget(view)
    view.show_predictions(table, _model())
    qtbot.waitUntil(lambda: len(view.grid.cells) == 4, timeout=30_000)
    assert [r["confidence"] for r in view.rows] == [0.9, 0.7, 0.6, 0.55]  # most confident mistakes first
    assert view.grid.cells[0].text() == "horizontal → vertical (0.90)"
    assert "4 mistakes among 6 test pictures" in view.title.text()
    view.show_cell("vertical", "horizontal")  # one confusion-matrix cell
    qtbot.waitUntil(lambda: len(view.grid.cells) == 2, timeout=30_000)
    view.grid.cells[0].click()
    qtbot.waitUntil(lambda: view.overlay is not None, timeout=60_000)
    assert view.overlay.shape == (12, 12, 3) and view.overlay.dtype == np.uint8
    assert not view.explained.pixmap().isNull() and "red marks the pixels" in view.explain_text.text()


def test_the_window_previews_augmentation_before_a_run_and_shows_mistakes_after(qtbot, tmp_path, data_dir):
    from ui.main_window import MainWindow
    from workbench.graph import Pipeline
    from workbench.registry import builtin_registry

    bars(tmp_path / "project" / "pics", per_class=12)
    pipeline = Pipeline(builtin_registry())
    pipeline.add("data.images", "images", path="pics", size=12)
    pipeline.add("data.split", "split", target="label")
    pipeline.add("prep.image_augment", "augment", rotation=30.0, hflip=0.0)
    pipeline.add("model.cnn", "cnn", blocks=1, width=4)
    pipeline.add("train.supervised", "train", epochs=1, batch_size=8)
    pipeline.add("evaluate.metrics", "evaluate")
    for a, b, c, d in [("images", "table", "split", "table"), ("split", "dataset", "augment", "dataset"),
                       ("augment", "dataset", "train", "dataset"), ("cnn", "model", "train", "model"),
                       ("train", "model", "evaluate", "model"), ("split", "dataset", "evaluate", "dataset")]:  # fmt: skip
        pipeline.connect(a, b, c, d)
    pipeline.save(tmp_path / "project" / "p.pipeline.json")
    win = MainWindow(builtin_registry(), QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    try:
        win.show()
        assert win.files.open(tmp_path / "project" / "p.pipeline.json", ask=False)
        panel = win.panels.images
        win.scene.nodes["augment"].setSelected(True)
        qtbot.waitUntil(lambda: len(panel.augment.draws) == 9, timeout=30_000)
        assert panel.currentWidget() is panel.augment and "vertical" not in panel.augment.title.text()
        with qtbot.waitSignal(win.runner.finished, timeout=120_000):
            assert win.run_all()
        qtbot.waitUntil(lambda: panel.mistakes.table is not None, timeout=30_000)
        assert "test pictures" in panel.mistakes.title.text()
        assert {"path", "actual", "prediction"} <= set(panel.mistakes.table.columns)
    finally:
        win.runner.shutdown()
