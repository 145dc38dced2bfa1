"""Hostile bundles are refused the same way everywhere: predict (app and the bundle's predict.py), transfer
learning and zips. Each bundle here is a real export, then damaged; where the damage is to content, the
checksums in manifest.json are rewritten so only the content checks can catch it."""

from __future__ import annotations

import fractions
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file
from test_export_models import classifier

from workbench import cli
from workbench.engine.models import ModelSpec, build_model
from workbench.engine.transfer import load_pretrained
from workbench.errors import UserError
from workbench.evaluation.align import split_arrays
from workbench.export import predict_template as tpl
from workbench.export import reader
from workbench.export.bundle import write_bundle
from workbench.export.predictor import Predictor, write_table
from workbench.export.reader import open_bundle


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(bundle folder, input CSV of 60 raw rows) for a small real classifier."""
    model, dataset, frame = classifier()
    root = tmp_path_factory.mktemp("hostile")
    bundle = write_bundle(model, root / "bundle", check_rows=split_arrays(model, dataset)["x_test"]).path
    source = root / "input.csv"
    frame.drop(columns=["label"]).head(60).to_csv(source, index=False)
    return bundle, source


def copy(bundle: Path, tmp_path: Path, name: str = "copy") -> Path:
    target = tmp_path / name
    shutil.copytree(bundle, target)
    return target


def resign(folder: Path) -> None:
    """Rewrite manifest.json's sizes and checksums so they match the files as they are now."""
    manifest = json.loads((folder / "manifest.json").read_text())
    for name, entry in manifest["files"].items():
        data = (folder / name).read_bytes()
        entry.update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    (folder / "manifest.json").write_text(json.dumps(manifest))


def edit(folder: Path, name: str, change, sign: bool = True) -> None:  # noqa: ANN001
    data = json.loads((folder / name).read_text())
    change(data)
    (folder / name).write_text(json.dumps(data))
    if sign:
        resign(folder)


def app_predict(capsys: pytest.CaptureFixture, bundle: Path, source: Path, output: Path) -> tuple[int, str]:
    code = cli.main(["predict", str(bundle), str(source), "-o", str(output)])
    return code, capsys.readouterr().err


def standalone(bundle: Path, source: Path, output: Path, *flags: str) -> subprocess.CompletedProcess:
    """The bundle's own predict.py in a clean interpreter, as a user runs it."""
    env = {"PATH": os.environ.get("PATH", ""), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-I", *flags, str(bundle / "predict.py"), str(source), "-o", str(output)],
        cwd=bundle.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_line_error(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("note:")]
    assert "Traceback" not in text and len(lines) == 1, text
    return lines[0]


def _step(op: str):  # noqa: ANN202
    return lambda prep: next(step for step in prep["steps"] if step["op"] == op)


# (file, change, words both the app and predict.py must name)
CONTENT = {
    "zero scale": ("preprocessing.json", lambda p: _step("scale")(p)["scale"].__setitem__(0, 0), "scale"),
    "empty classes": (
        "preprocessing.json",
        lambda p: p["labels"].__setitem__("classes", []),
        "labels.classes",
    ),
    "steps not a list": ("preprocessing.json", lambda p: p.__setitem__("steps", "impute"), "steps"),
    "missing feature_names": ("preprocessing.json", lambda p: p.pop("feature_names"), "feature_names"),
    "text fill for a number": (
        "preprocessing.json",
        lambda p: _step("impute")(p)["fill"].__setitem__("income", "lots"),
        "fill['income']",
    ),
    "number categories": (
        "preprocessing.json",
        lambda p: _step("onehot")(p)["encodings"][0].__setitem__("categories", [1, {"a": 2}]),
        "categories",
    ),
    "step reads a column nobody made": (
        "preprocessing.json",
        lambda p: _step("scale")(p)["columns"].__setitem__(0, "salary"),
        "'salary'",
    ),
    "unknown date part": (
        "preprocessing.json",
        lambda p: p["steps"].insert(
            0,
            {"op": "datetime", "columns": [], "parts": ["__class__"], "features_in": [], "features_out": []},
        ),  # fmt: skip
        "parts",
    ),
    "a step makes a column twice": (
        "preprocessing.json",
        lambda p: _step("onehot")(p)["encodings"][0]["categories"].append("__unseen__"),
        "'region=__unseen__' that already exists",
    ),
    "input shape": ("preprocessing.json", lambda p: p.__setitem__("input_shape", [9]), "input_shape"),
    "checksum not text": (
        "manifest.json",
        lambda m: m["files"]["model.onnx"].__setitem__("sha256", 5),
        "files['model.onnx'].sha256",
    ),
    "files not an object": ("manifest.json", lambda m: m.__setitem__("files", []), "files"),
    "format as text": ("manifest.json", lambda m: m.__setitem__("format", "1"), "format"),
}


@pytest.mark.parametrize("case", list(CONTENT))
def test_bad_content_with_good_checksums_is_one_line_in_app_and_predict_py(
    case: str, exported: tuple, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    bundle, source = exported
    name, change, field = CONTENT[case]
    folder = copy(bundle, tmp_path)
    edit(folder, name, change, sign=name != "manifest.json")
    code, err = app_predict(capsys, folder, source, tmp_path / "app.csv")
    line = one_line_error(err)
    assert code == 1 and name in line and field in line, line
    result = standalone(folder, source, tmp_path / "standalone.csv")
    line = one_line_error(result.stderr)
    assert result.returncode == 1 and name in line and field in line, line
    assert not (tmp_path / "app.csv").exists() and not (tmp_path / "standalone.csv").exists()


def test_deeply_nested_json_and_a_model_of_another_shape(
    exported: tuple, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    bundle, source = exported
    folder = copy(bundle, tmp_path)
    text = (folder / "preprocessing.json").read_text().rstrip()
    (folder / "preprocessing.json").write_text(
        text[:-1] + ', "extra": ' + "[" * 200_000 + "]" * 200_000 + "}"
    )
    resign(folder)
    code, err = app_predict(capsys, folder, source, tmp_path / "o.csv")
    assert code == 1 and "preprocessing.json is nested too deeply" in one_line_error(err)
    result = standalone(folder, source, tmp_path / "o.csv")
    assert result.returncode == 1 and "nested too deeply" in one_line_error(result.stderr)
    # consistent content for a 3-class model, but model.onnx gives one logit
    folder = copy(bundle, tmp_path, "multi")
    edit(
        folder, "preprocessing.json", lambda p: p["labels"].update(head="multiclass", classes=["a", "b", "c"])
    )
    code, err = app_predict(capsys, folder, source, tmp_path / "o.csv")
    assert code == 1 and "architecture.json: head is binary" in one_line_error(err)
    result = standalone(folder, source, tmp_path / "o.csv")
    assert result.returncode == 1 and "model.onnx output has shape [1]" in one_line_error(result.stderr)


def _swap_weights(folder: Path) -> None:
    """Same names and shapes, other numbers: what a swapped weights file looks like."""
    state = load_file(str(folder / "weights.safetensors"))
    save_file(
        {k: v + 1 if v.is_floating_point() else v for k, v in state.items()},
        str(folder / "weights.safetensors"),
    )


def test_pretrained_refuses_swapped_weights_as_predict_does(
    exported: tuple, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    bundle, source = exported
    folder = copy(bundle, tmp_path)
    _swap_weights(folder)
    code, err = app_predict(capsys, folder, source, tmp_path / "o.csv")
    assert code == 1 and "weights.safetensors was changed after export" in err
    for given in (folder, folder / "weights.safetensors"):
        with pytest.raises(UserError, match=r"weights\.safetensors was changed after export"):
            build_model(ModelSpec("pretrained", {"source": str(given)}), (8,), 1, "binary")
    # weights + architecture alone (no manifest to check them against) are not a bundle
    loose = tmp_path / "loose"
    loose.mkdir()
    for name in ("weights.safetensors", "architecture.json"):
        shutil.copy(folder / name, loose / name)
    with pytest.raises(UserError, match="is not a bundle"):
        load_pretrained(loose)
    module, arch = load_pretrained(bundle / "weights.safetensors")  # the untouched bundle still loads
    assert arch["input_shape"] == [8] and module.head.out_features == 1


def test_architecture_beyond_node_limits_is_refused_before_any_module_is_built(
    exported: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workbench.engine import models

    built: list[str] = []
    real = models.build_model_from_architecture

    def spy(arch):  # noqa: ANN001, ANN202
        built.append(str(torch.get_default_device()))
        return real(arch)

    monkeypatch.setattr(models, "build_model_from_architecture", spy)
    bundle, _ = exported
    cases = {
        "layers[0].units": lambda a: a["layers"][0].__setitem__("units", reader.MAX_UNITS + 1),
        "layers must be a list of at most 32": lambda a: a.__setitem__("layers", [{"units": 2}] * 33),
        "layers[0].activation": lambda a: a["layers"][0].__setitem__("activation", "__import__"),
        "n_outputs": lambda a: a.__setitem__("n_outputs", -1),
        "kind": lambda a: a.__setitem__("kind", "pickle"),
    }
    for index, (message, change) in enumerate(cases.items()):
        folder = copy(bundle, tmp_path, f"c{index}")
        edit(folder, "architecture.json", change)
        for load in (open_bundle, load_pretrained):
            with pytest.raises(
                UserError, match=rf"architecture\.json: {message.replace('[', '.').replace(']', '.')}"
            ):
                load(folder)
    assert built == []
    # within the limits but far bigger than the weights: refused on a meta-device skeleton, nothing allocated
    folder = copy(bundle, tmp_path, "huge")
    edit(folder, "architecture.json", lambda a: a.__setitem__("layers", [{"units": reader.MAX_UNITS}] * 4))
    with pytest.raises(UserError, match="the weights do not match the architecture"):
        load_pretrained(folder)
    assert built == ["meta"]
    # a checkpoint's architecture obeys the same limits
    arch = json.loads((bundle / "architecture.json").read_text())
    arch["layers"] = [{"units": reader.MAX_UNITS + 1}]
    checkpoint = tmp_path / "big.pt"
    torch.save(
        {"model": load_file(str(bundle / "weights.safetensors")), "architecture": json.dumps(arch)},
        checkpoint,
    )
    with pytest.raises(UserError, match=r"checkpoint big\.pt: architecture: layers\[0\]\.units"):
        load_pretrained(checkpoint)
    assert built == ["meta"]


def test_a_checkpoint_holding_objects_is_refused_without_suggesting_unsafe_loading(tmp_path: Path) -> None:
    odd, junk = tmp_path / "odd.pt", tmp_path / "junk.pt"
    torch.save({"model": {}, "extra": fractions.Fraction(1, 3)}, odd)  # not a tensor or plain value
    junk.write_bytes(b"garbage" * 10)  # torch reads it as an old-style pickle
    for checkpoint in (odd, junk):
        with pytest.raises(UserError) as caught:
            load_pretrained(checkpoint)
        message = str(caught.value)
        assert checkpoint.name in message and "\n" not in message and "\x1b" not in message
        assert "weights_only" not in message and "False" not in message, message


@pytest.mark.parametrize("content", [b"", b"PAR1" + os.urandom(3000) + b"PAR1", os.urandom(5000)])
def test_junk_parquet_input_is_one_line(
    content: bytes, exported: tuple, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    bundle, _ = exported
    junk = tmp_path / "rows.parquet"
    junk.write_bytes(content)
    result = standalone(bundle, junk, tmp_path / "o.csv")
    assert result.returncode == 1 and "rows.parquet" in one_line_error(result.stderr)
    code, err = app_predict(capsys, bundle, junk, tmp_path / "o.csv")
    assert code == 1 and "rows.parquet" in one_line_error(err)


def _bomb(path: Path, bundle: Path, sizes: bool) -> None:
    """A zip of the real bundle whose model.onnx is a 200 MB run of zeros (about 200 KB compressed)."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    if not sizes:
        for entry in manifest["files"].values():
            entry.pop("bytes")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("b/manifest.json", json.dumps(manifest))
        for name in manifest["files"]:
            if name != "model.onnx":
                archive.write(bundle / name, f"b/{name}")
        with archive.open("b/model.onnx", "w", force_zip64=True) as out:
            block = bytes(1 << 20)
            for _ in range(200):
                out.write(block)


@pytest.mark.parametrize("sizes", [True, False], ids=["manifest sizes", "hard caps"])
def test_zip_bomb_is_refused_before_anything_big_is_written(
    sizes: bool,
    exported: tuple,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    bundle, source = exported
    bomb = tmp_path / "bundle.zip"
    _bomb(bomb, bundle, sizes)
    assert bomb.stat().st_size < 2 << 20
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with pytest.raises(UserError, match="model.onnx in the zip unpacks to 209,715,200 bytes"):
        open_bundle(bomb)
    code, err = app_predict(capsys, bomb, source, tmp_path / "o.csv")
    assert code == 1 and "bundle.zip" in one_line_error(err)
    assert list(scratch.iterdir()) == []  # extracted files are removed on refusal


def test_zip_extracts_only_bundle_files_and_refuses_unsafe_names(exported: tuple, tmp_path: Path) -> None:
    bundle, _ = exported
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as archive:
        for entry in bundle.iterdir():
            archive.write(entry, f"b/{entry.name}")
        archive.writestr("b/run_me.sh", "echo hi")
        archive.writestr("other/notes.txt", "x")
    loaded = open_bundle(good)
    assert sorted(p.name for p in loaded.path.iterdir()) == sorted(p.name for p in bundle.iterdir())
    assert Predictor.from_bundle(loaded).prep["labels"]["classes"] == ["no", "yes"]
    for bad_name in ("../manifest.json", "/etc/manifest.json", "b/../../x", "C:/b/model.onnx"):
        bad = tmp_path / "bad.zip"
        with zipfile.ZipFile(bad, "w") as archive:
            archive.writestr(zipfile.ZipInfo(bad_name), (bundle / "manifest.json").read_bytes())
        with pytest.raises(UserError, match="unsafe file name"):
            open_bundle(bad)
    link = zipfile.ZipInfo("b/model.onnx")
    link.external_attr = 0o120777 << 16
    with zipfile.ZipFile(tmp_path / "link.zip", "w") as archive:
        archive.write(bundle / "manifest.json", "b/manifest.json")
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(UserError, match="holds a link"):
        open_bundle(tmp_path / "link.zip")


def test_csv_output_escapes_formulas_but_not_numbers(
    exported: tuple, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    bundle, source = exported
    folder = copy(bundle, tmp_path)
    evil = '=HYPERLINK("http://x.example","click")'
    edit(folder, "preprocessing.json", lambda p: p["labels"].__setitem__("classes", ["-1.5", evil]))
    assert app_predict(capsys, folder, source, tmp_path / "app.csv")[0] == 0
    result = standalone(folder, source, tmp_path / "standalone.csv")
    assert result.returncode == 0, result.stderr
    for output in ("app.csv", "standalone.csv"):
        cells = set(pd.read_csv(tmp_path / output, dtype=str)["prediction"])
        assert cells == {"-1.5", "'" + evil}, cells
    cli.main(["predict", str(folder), str(source), "-o", str(tmp_path / "raw.parquet")])
    assert set(pd.read_parquet(tmp_path / "raw.parquet")["prediction"]) == {"-1.5", evil}
    raw = ["@SUM(A1)", "+cmd", "\tx", "\rx", "-x", "-2e5", "+3", "plain", None]
    table = pd.DataFrame({"prediction": raw, "number": np.arange(9.0) - 4, "=name": list(range(9))})
    safe = ["'@SUM(A1)", "'+cmd", "'\tx", "'\rx", "'-x", "-2e5", "+3", "plain", None]
    assert tpl.csv_safe(table)["'=name"].tolist() == list(range(9))
    assert tpl.csv_safe(table)["prediction"].tolist()[:8] == safe[:8]
    written = pd.read_csv(write_table(table, tmp_path / "t.csv"), dtype=str, keep_default_na=False)
    assert written["prediction"].tolist()[:3] == safe[:3] and written["prediction"].tolist()[-4:] == [
        "-2e5",
        "+3",
        "plain",
        "",
    ]
    assert written["number"].tolist()[:2] == ["-4.0", "-3.0"] and list(written.columns)[2] == "'=name"
    assert table["prediction"].tolist()[:8] == raw[:8]  # the caller's table is not changed


def test_the_copies_predict_py_and_the_reader_carry_agree_with_the_app() -> None:
    """predict.py cannot import workbench, and the node catalog cannot import torch: their copies of shared
    names and limits must stay equal to the originals."""
    from workbench.engine import models
    from workbench.export import bundle
    from workbench.nodes.transform import PrepWindow
    from workbench.tabular.vocabulary import DATE_PARTS

    assert tpl.BUNDLE_FORMAT == bundle.BUNDLE_FORMAT and tpl.DATE_PARTS == DATE_PARTS
    assert (reader.ACTIVATIONS, reader.SEQUENCE_CELLS, reader.HEADS) == (
        models.ACTIVATIONS,
        models.SEQUENCE_CELLS,
        models.HEADS,
    )
    lookback = next(p for p in PrepWindow.spec.params if p.name == "lookback")
    assert lookback.maximum == reader.MAX_LOOKBACK
