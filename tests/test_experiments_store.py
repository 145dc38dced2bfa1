"""The run history: every run recorded, listed, compared, annotated, deleted, migrated and rebuilt."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fakes import FAKE_TYPES

from workbench import events as E
from workbench import params as P
from workbench.errors import UserError
from workbench.execution.executor import Executor
from workbench.experiments import store as S
from workbench.experiments.store import ExperimentStore, differing_params, sort_runs
from workbench.graph import Pipeline
from workbench.nodes.base import NodeSpec, NodeType, PortSpec
from workbench.ports import TABLE
from workbench.registry import NodeRegistry


class Trainer(NodeType):
    """Reports per-epoch figures and final metrics like the training node, without torch."""

    spec = NodeSpec(
        "fake.trainer",
        "Trainer",
        "train",
        inputs=(PortSpec("table", TABLE),),
        outputs=(PortSpec("table", TABLE),),
        params=(P.Float("lr", 0.1, minimum=0.0), P.Int("epochs", 3, minimum=1), P.Int("seed", 0)),
    )

    def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
        for epoch in range(1, params["epochs"] + 1):
            ctx.metrics(epoch, {"train_loss": 1.0 / epoch, "val_loss": params["lr"] + 1.0 / epoch})
        ctx.metrics(0, {"val_accuracy": 1.0 - params["lr"], "device": "cpu"}, kind="final")
        return {"table": inputs["table"]}


REGISTRY = NodeRegistry((*FAKE_TYPES, Trainer))


def pipeline(lr: float = 0.1, epochs: int = 3, path: Path | None = None) -> Pipeline:
    p = Pipeline(REGISTRY)
    p.add("fake.source", value=2)
    p.add("fake.trainer", "train", lr=lr, epochs=epochs)
    p.connect("source.table", "train.table")
    if path is not None:
        p.save(path)
    return p


def test_every_run_is_recorded_with_params_metrics_and_curves(data_dir: Path, tmp_path: Path) -> None:
    result = Executor().run(pipeline(0.25, path=tmp_path / "demo.pipeline.json"))
    assert result.status == "ok" and result.recorded_s is not None
    with ExperimentStore() as store:
        (record,) = store.list()
        assert record.run_id == result.run_id and record.status == "ok"
        assert record.pipeline_name == "demo" and record.pipeline_file.endswith("demo.pipeline.json")
        assert record.params["train.lr"] == 0.25 and record.params["train.epochs"] == 3
        assert record.params["source.note"] == ""  # defaults are filled from the spec
        assert record.metrics["val_accuracy"] == pytest.approx(0.75)
        assert record.device == "cpu" and record.seed == 0 and record.data_fingerprint
        assert Path(record.run_dir) == result.run_dir
        curves = store.curves(record.run_id)
        assert [c["epoch"] for c in curves["train"]] == [1, 2, 3]
        assert curves["train"][0]["val_loss"] == pytest.approx(1.25)
        assert store.pipeline_json(record.run_id)["nodes"][1]["params"]["lr"] == 0.25
    # the folder is the source of truth: the pipeline as it ran and the curves are in it
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["pipeline_json"]["nodes"][1]["params"]["lr"] == 0.25
    assert json.loads((result.run_dir / "curves.json").read_text())["train"][2]["epoch"] == 3


def test_a_run_without_a_folder_or_with_history_off_is_not_recorded(data_dir: Path) -> None:
    Executor().run(pipeline(), write_run_folder=False)
    Executor(history=False).run(pipeline())
    with ExperimentStore() as store:
        assert store.count() == 0


def test_a_store_failure_never_fails_the_run(data_dir: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "history-is-a-folder"
    blocked.mkdir()
    events: list[Any] = []
    result = Executor(history=blocked).run(pipeline(), reporter=events.append)
    assert result.status == "ok" and result.recorded_s is None
    lines = [e.message for e in events if isinstance(e, E.LogRecord) and "run history" in e.message]
    assert len(lines) == 1 and "workbench runs reindex" in lines[0]


def test_list_filters_sorts_and_compares(data_dir: Path, tmp_path: Path) -> None:
    executor = Executor()
    ids = [executor.run(pipeline(lr, path=tmp_path / "a.json")).run_id for lr in (0.3, 0.1, 0.2)]
    other = executor.run(pipeline(0.05, path=tmp_path / "b.json")).run_id
    with ExperimentStore() as store:
        assert {r.run_id for r in store.list(pipeline="a")} == set(ids)
        best = store.list(sort="val_accuracy")
        assert [r.run_id for r in best] == [other, ids[1], ids[2], ids[0]]
        by_loss = sort_runs(store.list(), "val_loss")  # no such final metric: order kept, none dropped
        assert len(by_loss) == 4
        compared = store.compare([ids[0], ids[1]])
        assert compared["changed"] == ["train.lr"]
        assert compared["params"]["train.lr"] == [0.3, 0.1]
        assert compared["metrics"]["val_accuracy"] == [pytest.approx(0.7), pytest.approx(0.9)]
        assert differing_params(store.list()) == ["train.lr"]
        assert store.get(ids[1]).run_id == ids[1]
        with pytest.raises(UserError, match="ambiguous"):
            store.get(ids[0][:9])  # the date all four share
        with pytest.raises(UserError, match="no run 'nope'"):
            store.get("nope")


def test_rename_tag_note_survive_a_reindex_and_delete_removes_the_folder(data_dir: Path) -> None:
    executor = Executor()
    first, second = executor.run(pipeline(0.1)), executor.run(pipeline(0.2))
    with ExperimentStore() as store:
        store.update(first.run_id, name="small lr", note="looks good", tags=["keep", " keep ", "a"])
    S.default_path().unlink()  # the index is lost; the folders are not
    for suffix in ("-wal", "-shm"):
        Path(str(S.default_path()) + suffix).unlink(missing_ok=True)
    with ExperimentStore() as store:
        assert store.count() == 0
        assert store.reindex() == (2, 0)
        record = store.get(first.run_id)
        assert (record.name, record.note, record.tags) == ("small lr", "looks good", ["a", "keep"])
        assert store.curves(first.run_id)["train"][-1]["epoch"] == 3
        assert store.get(second.run_id).params["train.lr"] == 0.2
        store.delete(second.run_id)
        assert not second.run_dir.exists() and first.run_dir.exists()
        assert [r.run_id for r in store.list()] == [first.run_id]
        # a folder removed by hand: reindex drops its row
        import shutil

        shutil.rmtree(first.run_dir)
        assert store.reindex() == (0, 1)
        assert store.count() == 0


def test_delete_refuses_a_folder_that_is_not_a_run_folder(data_dir: Path, tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with ExperimentStore() as store:
        store.upsert({"run_id": "precious", "run_dir": str(precious), "status": "ok"})
        with pytest.raises(UserError, match="not a run folder"):
            store.delete("precious")
        assert (precious / "thesis.tex").exists() and store.count() == 1


def test_an_older_schema_is_migrated_and_keeps_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(S.MIGRATIONS[0])  # the schema as version 1 shipped it
    db.execute(
        "INSERT INTO runs (run_id, pipeline_name, params, metrics, status, finished_at) VALUES (?,?,?,?,?,?)",
        (
            "20250101-000000-old",
            "old",
            json.dumps({"train.lr": 0.01}),
            json.dumps({"accuracy": 0.9}),
            "ok",
            1.0,
        ),
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with ExperimentStore(path) as store:
        assert store.version == S.SCHEMA_VERSION
        (record,) = store.list()
        assert record.params == {"train.lr": 0.01} and record.metrics == {"accuracy": 0.9}
        assert record.sweep_id is None and record.trial_state == ""
        store.update(record.run_id, trial_state="pruned")  # a v2 column works on the migrated file
        assert store.get(record.run_id).trial_state == "pruned"
    newer = sqlite3.connect(path)
    newer.execute(f"PRAGMA user_version = {S.SCHEMA_VERSION + 1}")
    newer.commit()
    newer.close()
    with pytest.raises(UserError, match="newer Model Workbench"):
        ExperimentStore(path)


def test_a_damaged_file_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(UserError, match="runs reindex"):
        ExperimentStore(path)


def test_a_thousand_runs_list_with_their_differing_params(tmp_path: Path) -> None:
    with ExperimentStore(tmp_path / "big.sqlite") as store:
        store.db.execute("BEGIN")
        for i in range(1000):
            params = {f"node{k}.p": k for k in range(40)} | {"train.lr": 10.0 ** -(i % 4), "train.units": 64}
            store.upsert(
                {
                    "run_id": f"run-{i:04d}",
                    "pipeline_name": "big",
                    "params": json.dumps(params),
                    "metrics": json.dumps({"val_accuracy": (i % 97) / 97}),
                    "status": "ok",
                    "finished_at": float(i),
                }
            )
        store.db.execute("COMMIT")
        records = store.list()
        assert len(records) == 1000 and records[0].run_id == "run-0999"  # newest first
        assert differing_params(records) == ["train.lr"]
        assert store.list(sort="val_accuracy")[0].metrics["val_accuracy"] == pytest.approx(96 / 97)
        assert len(store.list(limit=10)) == 10
