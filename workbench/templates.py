"""The standard first pipeline for a user's own data file: file → split → preprocessing → model → train →
evaluate → export, laid out left to right.

Why one builder: the drop dialog in the app and ``workbench new`` must give the same pipeline, so a script gets
the same first model as the window. The preprocessing is the automatic chain made visible (encode text, fill
gaps with medians, standardise), so it can be inspected and changed on the canvas; a table with dates leaves
the scaling to the training node's automatic step, which turns dates into numbers first.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import UserError
from workbench.graph import Pipeline
from workbench.registry import NodeRegistry

if TYPE_CHECKING:
    import pandas as pd

    from workbench.tabular.guess import Guess

DATA_SUFFIXES = (".csv", ".tsv", ".txt", ".dat", ".tab", ".parquet", ".pq", ".xlsx", ".xlsm", ".xls", ".json",
                 ".jsonl", ".ndjson")  # fmt: skip
STEP_X, MODEL_Y = 235.0, 170.0  # nodes are 200 wide; evaluate and export share the last column


def is_data_file(path: str | Path) -> bool:
    """A file a data.file node can read, judged by its name (a dropped file, ``workbench new DATA``)."""
    return Path(path).suffix.lower() in DATA_SUFFIXES


def read_for_guess(path: str | Path, check: Any = None) -> pd.DataFrame:
    """The table as data.file reads it with its default (sniffing) settings."""
    from workbench.tabular.io import read_table

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file; give a CSV, TSV, Parquet, Excel or JSON file")
    return read_table(path, check=check)


def data_path_param(data: Path, pipeline_dir: Path | None) -> str:
    """The ``path`` the file node stores: relative to the pipeline's folder when the data sits inside it (the
    pair can move together), else absolute."""
    data = data.expanduser().absolute()
    if pipeline_dir is not None:
        try:
            relative = data.relative_to(pipeline_dir.expanduser().absolute())
            return relative.as_posix()
        except ValueError:
            pass
    return str(data)


def standard_pipeline(
    data: str | Path,
    *,
    target: str | None = None,
    task: str = "auto",
    frame: pd.DataFrame | None = None,
    guessed: Guess | None = None,
    pipeline_dir: Path | None = None,
    registry: NodeRegistry | None = None,
) -> tuple[Pipeline, Guess]:
    """Build the standard pipeline for ``data`` and return it with the guess it used.

    ``frame`` (the table already read) and ``guessed`` (a guess already made, e.g. shown in the dialog) save
    reading the file again. ``target`` overrides the guess and is checked; ``task`` "auto" keeps data.split's
    own detection. Raises UserError when no column can be predicted.
    """
    from workbench.tabular.guess import guess as make_guess

    data = Path(data)
    if guessed is None or (target is not None and guessed.target != target):
        if frame is None:
            frame = read_for_guess(data)
        guessed = make_guess(frame, target)
    if guessed.target is None:
        raise UserError(f"{data.name}: {guessed.reason}; pass --target COLUMN or choose one")
    pipeline = Pipeline(registry)
    pipeline.meta["title"] = data.stem
    pipeline.meta["description"] = (
        f"Predict {guessed.target!r} ({guessed.task}) from {data.name}. Target: {guessed.reason}. "
        f"Task: {guessed.task_reason}."
    )
    column = 0.0

    def add(type_id: str, node_id: str, **params: Any) -> str:
        """The next node on the main line, one step to the right."""
        nonlocal column
        pipeline.add(type_id, node_id, position=(column * STEP_X, 0.0), **params)
        column += 1
        return node_id

    last = add("data.file", "file", path=data_path_param(data, pipeline_dir))
    port = "table"
    if guessed.drop:
        columns = add("clean.columns", "columns", drop=list(guessed.drop))
        pipeline.connect(last, port, columns, "table")
        last = columns
    split = add("data.split", "split", target=guessed.target, task=task)
    pipeline.connect(last, port, split, "table")
    last, port = split, "dataset"
    for type_id, node_id, params in preprocessing(guessed):
        add(type_id, node_id, **params)
        pipeline.connect(last, port, node_id, "dataset")
        last = node_id
    model = pipeline.add(
        "model.mlp", "mlp", position=((column - 1) * STEP_X, MODEL_Y)
    ).id  # under the train input
    train = add("train.supervised", "train")
    pipeline.connect(last, port, train, "dataset")
    pipeline.connect(model, "model", train, "model")
    evaluate = add("evaluate.metrics", "evaluate")
    pipeline.connect(train, "model", evaluate, "model")
    pipeline.connect(last, port, evaluate, "dataset")
    export = pipeline.add("deploy.export", "export", position=((column - 1) * STEP_X, MODEL_Y)).id  # under it
    pipeline.connect(train, "model", export, "model")
    pipeline.connect(last, port, export, "dataset")
    return pipeline, guessed


def preprocessing(guessed: Guess) -> list[tuple[str, str, dict[str, Any]]]:
    """The automatic chain as nodes, for the columns this table has: (type id, node id, params) in order."""
    features = [c for c in guessed.columns if c.usable and c.name != guessed.target]
    kinds = {c.kind for c in features}
    steps: list[tuple[str, str, dict[str, Any]]] = []
    if kinds & {"category", "bool"}:
        steps.append(("prep.encode", "encode", {"method": "onehot", "max_categories": 20}))
    steps.append(("prep.impute", "impute", {"strategy": "median"}))  # also fills gaps met at prediction time
    if "datetime" not in kinds:  # date parts are made in training; its automatic step then scales them all
        steps.append(("prep.scale", "scale", {"method": "standard"}))
    return steps


def write_new_pipeline(
    data: str | Path,
    output: str | Path | None = None,
    *,
    target: str | None = None,
    registry: NodeRegistry | None = None,
) -> tuple[Path, Pipeline, Guess]:
    """``workbench new``: build the standard pipeline for ``data`` and save it (``DATA-stem.pipeline.json``
    beside the data unless ``output`` is given). Refuses to overwrite an existing file."""
    data = Path(data).expanduser()
    if not data.is_file():
        raise UserError(f"{data}: no such data file")
    out = Path(output).expanduser() if output else data.with_name(f"{data.stem}.pipeline.json")
    if out.exists():
        raise UserError(f"{out}: already exists; choose another name with -o, or delete it first")
    if not out.parent.is_dir():
        raise UserError(f"{out.parent}: no such folder for the pipeline file")
    pipeline, guessed = standard_pipeline(data, target=target, pipeline_dir=out.parent, registry=registry)
    pipeline.save(out)
    return out, pipeline, guessed


def suggested_name(title: str) -> str:
    """``name.pipeline.json``: the examples' pattern (and the MIME type's glob)."""
    stem = title[: -len(".pipeline.json")] if title.endswith(".pipeline.json") else Path(title).stem
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem).strip("._") or "pipeline"
    return f"{stem}.pipeline.json"


__all__ = [
    "DATA_SUFFIXES",
    "data_path_param",
    "is_data_file",
    "preprocessing",
    "read_for_guess",
    "standard_pipeline",
    "suggested_name",
    "write_new_pipeline",
]
