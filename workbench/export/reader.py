"""Opening a bundle: the one reader that predict, transfer learning and evaluation use. JSON, safetensors and
ONNX only, never pickle.

Before any file is used: a ``.zip`` is extracted with limits (only the bundle's own files, sizes capped, no
absolute or ``..`` names, no links); ``manifest.json`` and ``preprocessing.json`` pass the field checks the
bundle's own ``predict.py`` runs; every bundle file has the size and sha256 the manifest recorded;
``architecture.json`` stays within the limits of the model nodes' parameters; and the weights' names and
shapes are compared with a meta-device skeleton before the real module is built. ``model.pt2`` is never
loaded: ``torch.export.load`` falls back to unpickling. Every problem is one UserError line naming the file.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # zipfile and tempfile load lazily: the model nodes import this module's limits
    import zipfile

from workbench.errors import UserError
from workbench.export.target import file_sha256

MANIFEST = "manifest.json"
# What the model nodes allow (workbench/nodes/model.py builds its parameter specs from these numbers), so an
# architecture.json or a checkpoint cannot describe a model the app's own nodes could not have built.
ACTIVATIONS = ("relu", "gelu", "tanh", "sigmoid", "leaky_relu", "silu")
SEQUENCE_CELLS = ("gru", "lstm", "cnn1d")
HEADS = ("binary", "multiclass", "regression")
MAX_LAYERS, MAX_UNITS, MAX_DROPOUT = 32, 65536, 0.95  # model.mlp
MAX_HIDDEN, MAX_RNN_LAYERS, MAX_RNN_DROPOUT, MAX_KERNEL = 4096, 8, 0.9, 63  # model.sequence
MAX_LOOKBACK = 1000  # prep.window
IMAGE_KINDS = ("cnn", "resnet")  # model.cnn / model.resnet (workbench/engine/vision.py)
MAX_IMAGE_SIZE, MAX_CNN_BLOCKS, MAX_CNN_WIDTH, MAX_CNN_DROPOUT = 1024, 6, 512, 0.9  # data.images, model.cnn
RESNET_DEPTHS, RESNET_STEMS = (18, 34), ("imagenet", "small")  # model.resnet
MAX_FEATURES, MAX_OUTPUTS = 1 << 20, 1 << 16  # set by the data, not a node: generous sanity bounds
# Zip extraction: a file's size comes from the manifest when it records one; these caps hold regardless.
ZIP_FILE_CAP, ZIP_TOTAL_CAP, MANIFEST_CAP = 4 << 30, 8 << 30, 16 << 20
ZIP_RATIO = 200  # a model file compresses ~1.1x, JSON ~10x; zeros ~1000x (a zip bomb)
ZIP_ENTRIES = 1000


@dataclass
class LoadedBundle:
    """A checked bundle folder and its parsed JSON files; ``source`` is what the user named (folder or zip)."""

    path: Path
    manifest: dict[str, Any]
    preprocessing: dict[str, Any]
    architecture: dict[str, Any]
    _tmp: Any = field(default=None, repr=False)  # keeps an extracted zip alive
    source: Path | None = None

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.manifest.get("metrics", {}))

    @property
    def kind(self) -> str:
        """``image`` (pictures in: model.cnn / model.resnet) or ``table`` (rows of columns in)."""
        return "image" if is_image_preprocessing(self.preprocessing) else "table"


def is_image_preprocessing(prep: Any) -> bool:
    """An image bundle's preprocessing.json carries image settings (size, policy, channels) instead of steps."""
    return isinstance(prep, dict) and "image" in prep


def _image_template() -> Any:
    from workbench.export import predict_images_template

    return predict_images_template


def _files() -> tuple[str, ...]:
    from workbench.export.bundle import FILES

    return tuple(FILES)


def _template() -> Any:
    from workbench.export import predict_template

    return predict_template


def _checked(check: Any, *args: Any) -> Any:
    """Run one of predict.py's checks; its PredictError becomes our UserError (the same line)."""
    tpl = _template()
    try:
        return check(*args)
    except tpl.PredictError as exc:
        raise UserError(str(exc)) from None


# --------------------------------------------------------------------------- zip


def _zip_members(path: Path, archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """The bundle files in the zip (at its root or in one folder); anything unsafe refuses the whole zip."""
    known = {*_files(), MANIFEST}
    infos = archive.infolist()
    if len(infos) > ZIP_ENTRIES:
        raise UserError(
            f"bundle {path.name}: the zip holds {len(infos):,} entries; a bundle has {len(known)}"
        )
    chosen: dict[str, zipfile.ZipInfo] = {}
    folders = set()
    for info in infos:
        name = info.filename
        parts = PurePosixPath(name).parts
        if not parts or name.startswith(("/", "\\")) or "\\" in name or ".." in parts or ":" in parts[0]:
            raise UserError(f"bundle {path.name}: unsafe file name {name!r} in the zip; it is not extracted")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UserError(f"bundle {path.name}: the zip holds a link ({name!r}); it is not extracted")
        if info.is_dir() or parts[-1] not in known or len(parts) > 2:
            continue  # not a bundle file: left in the zip
        if parts[-1] in chosen:
            raise UserError(f"bundle {path.name}: the zip holds {parts[-1]} twice; re-export the bundle")
        folders.add(parts[:-1])
        chosen[parts[-1]] = info
    if len(folders) > 1:
        raise UserError(f"bundle {path.name}: the zip holds bundle files in more than one folder")
    if MANIFEST not in chosen:
        raise UserError(f"bundle {path.name}: the zip holds no manifest.json; it is not a bundle")
    return chosen


def _copy_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, limit: int, label: str) -> int:
    """Write one entry, refusing it before a byte is written when its declared size is over ``limit`` or it
    compresses like a zip bomb, and while writing should the data run past what it declared."""
    name = target.name
    ratio_bad = info.file_size > (1 << 20) and info.file_size > ZIP_RATIO * max(1, info.compress_size)
    if info.file_size > limit or ratio_bad:
        raise UserError(
            f"bundle {label}: {name} in the zip unpacks to {info.file_size:,} bytes "
            f"({'more than the manifest records' if not ratio_bad else 'a zip bomb'}); it is not extracted"
        )
    written = 0
    with archive.open(info) as source, open(target, "xb") as out:
        while block := source.read(1 << 20):
            written += len(block)
            if written > min(limit, info.file_size):
                raise UserError(
                    f"bundle {label}: {name} in the zip is longer than it declares; not extracted"
                )
            out.write(block)
    return written


def _extract_zip(path: Path) -> tuple[Path, Any]:
    """Only the bundle's files, sizes capped by the manifest (when it records them) and by hard limits."""
    import tempfile
    import zipfile

    tpl = _template()
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise UserError(f"bundle {path.name}: not a valid zip file") from None
    tmp = tempfile.TemporaryDirectory(prefix="workbench-bundle-")
    root = Path(tmp.name)
    try:
        with archive:
            members = _zip_members(path, archive)
            _copy_entry(archive, members[MANIFEST], root / MANIFEST, MANIFEST_CAP, path.name)
            manifest = _checked(tpl.check_manifest, _read_json(root, MANIFEST, path), path)
            sizes: dict[str, int] = {
                n: e["bytes"] for n, e in manifest["files"].items() if isinstance(e.get("bytes"), int)
            }
            total = 0
            for name, info in members.items():
                if name != MANIFEST:
                    limit = min(ZIP_FILE_CAP, sizes.get(name, ZIP_FILE_CAP))
                    total += _copy_entry(archive, info, root / name, limit, path.name)
                    if total > ZIP_TOTAL_CAP:
                        raise UserError(
                            f"bundle {path.name}: the zip unpacks to more than {ZIP_TOTAL_CAP:,} bytes"
                        )
    except tpl.PredictError as exc:
        tmp.cleanup()
        raise UserError(str(exc)) from None
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError, ValueError) as exc:
        tmp.cleanup()
        raise UserError(f"bundle {path.name}: the zip cannot be extracted ({exc})") from None
    except BaseException:
        tmp.cleanup()
        raise
    return root, tmp


# --------------------------------------------------------------------------- folder


def open_bundle(path: str | Path) -> LoadedBundle:
    """Check and parse a bundle folder (or its .zip); raises UserError naming the problem file."""
    source = Path(path)
    tpl = _template()
    tmp = None
    folder = source
    if source.is_file() and source.suffix.lower() == ".zip":
        folder, tmp = _extract_zip(source)
    try:
        return _open_folder(folder, source, tpl, tmp)
    except BaseException:
        if tmp is not None:
            tmp.cleanup()
        raise


def _open_folder(folder: Path, source: Path, tpl: Any, tmp: Any) -> LoadedBundle:
    if not folder.is_dir():
        raise UserError(f"bundle {source}: no such folder; choose a folder written by deploy.export")
    if not (folder / MANIFEST).is_file():
        raise UserError(
            f"bundle {source}: no manifest.json; this folder is not a bundle (choose a folder written by "
            "deploy.export or workbench export)"
        )
    manifest = _checked(tpl.check_manifest, _read_json(folder, MANIFEST, source), source)
    missing = [name for name in _files() if not (folder / name).is_file()]
    if missing:
        raise UserError(
            f"bundle {source}: {', '.join(missing)} missing; this is not a complete bundle, re-export it"
        )
    for name in _files():
        _verify(folder / name, manifest["files"].get(name), source)
    prep = _read_json(folder, "preprocessing.json", source)
    if is_image_preprocessing(prep):  # the checks the image bundle's own predict.py runs
        images = _image_template()
        try:
            prep = images.check_image_preprocessing(prep, source)
        except images.PredictError as exc:
            raise UserError(str(exc)) from None
    else:
        prep = _checked(tpl.check_preprocessing, prep, source)
    where = f"bundle {source}: architecture.json"
    arch = check_architecture(_read_json(folder, "architecture.json", source), where)
    _match_preprocessing(arch, prep, where)
    return LoadedBundle(folder, manifest, prep, arch, tmp, source)


def _read_json(folder: Path, name: str, source: Path) -> dict[str, Any]:
    tpl = _template()
    try:
        return tpl.read_json(folder, name)
    except tpl.PredictError as exc:
        raise UserError(str(exc).replace(f"bundle {folder}:", f"bundle {source}:")) from None


def _verify(path: Path, entry: Any, source: Path) -> None:
    name = path.name
    if entry is None:
        raise UserError(f"bundle {source}: manifest.json has no checksum for {name}; re-export the model")
    if path.is_symlink():
        raise UserError(f"bundle {source}: {name} is a link; a bundle holds plain files, re-export it")
    size = entry.get("bytes")
    if (size is not None and path.stat().st_size != size) or file_sha256(path) != entry["sha256"]:
        raise UserError(
            f"bundle {source}: {name} was changed after export (checksum mismatch); "
            "restore the file or re-export the model"
        )


# --------------------------------------------------------------------------- architecture and weights


def check_architecture(arch: Any, where: str) -> dict[str, Any]:
    """The fields ``build_model_from_architecture`` reads, within the model nodes' limits; ``where`` names the
    file in the message ("bundle X: architecture.json", "checkpoint last.pt: architecture")."""

    def fail(name: str, what: str) -> UserError:
        return UserError(f"{where}: {name} {what}; re-export the model")

    def get(data: Any, key: str, path: str, test: Any, what: str, default: Any = ...) -> Any:
        name = f"{path}.{key}" if path else key
        if not isinstance(data, dict):
            raise fail(path or "the top level", "must be an object")
        if key not in data and default is not ...:
            return default
        if key not in data:
            raise fail(name, "is missing")
        if not test(data[key]):
            raise fail(name, f"must be {what}")
        return data[key]

    def whole(data: Any, key: str, low: int, high: int, path: str = "", default: Any = ...) -> int:
        test = lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high  # noqa: E731
        return get(data, key, path, test, f"a whole number from {low} to {high}", default)

    def real(data: Any, key: str, high: float, path: str = "", default: Any = ...) -> float:
        test = lambda v: isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= high  # noqa: E731
        return get(data, key, path, test, f"a number from 0 to {high}", default)

    def pick(data: Any, key: str, choices: tuple, path: str = "", default: Any = ...) -> str:
        return get(data, key, path, lambda v: v in choices, f"one of {', '.join(choices)}", default)

    def flag(data: Any, key: str, path: str = "", default: Any = ...) -> bool:
        return get(data, key, path, lambda v: isinstance(v, bool), "true or false", default)

    kind = pick(arch, "kind", ("mlp", "sequence", *IMAGE_KINDS))
    if kind in IMAGE_KINDS:
        shape = get(arch, "input_shape", "", lambda v: isinstance(v, list) and len(v) == 3 and all(
            isinstance(s, int) and not isinstance(s, bool) for s in v), "[height, width, channels]")  # fmt: skip
        if not all(4 <= s <= MAX_IMAGE_SIZE for s in shape[:2]) or shape[2] not in (1, 3):
            raise fail("input_shape", f"must be 4 to {MAX_IMAGE_SIZE} pixels a side and 1 or 3 channels")
        whole(arch, "n_outputs", 1, MAX_OUTPUTS)
        pick(arch, "head", HEADS)
        for key in ("mean", "std"):
            get(arch, key, "", lambda v, low=0.0 if key == "mean" else 1e-6: isinstance(v, list)
                and len(v) == shape[2] and all(isinstance(x, int | float) and not isinstance(x, bool)
                and low <= x <= 1.0 for x in v), f"{shape[2]} number(s) from 0 to 1")  # fmt: skip
        if kind == "cnn":
            whole(arch, "blocks", 1, MAX_CNN_BLOCKS)
            whole(arch, "width", 1, MAX_CNN_WIDTH)
            real(arch, "dropout", MAX_CNN_DROPOUT)
            flag(arch, "batch_norm")
        else:
            get(arch, "depth", "", lambda v: v in RESNET_DEPTHS and not isinstance(v, bool), "18 or 34")
            pick(arch, "stem", RESNET_STEMS)
        return arch
    shape = get(arch, "input_shape", "", lambda v: isinstance(v, list) and len(v) in (1, 2) and all(
        isinstance(s, int) and not isinstance(s, bool) for s in v), "[features] or [lookback, features]")  # fmt: skip
    if not 1 <= shape[-1] <= MAX_FEATURES or not 1 <= shape[0] <= (
        MAX_LOOKBACK if len(shape) == 2 else MAX_FEATURES
    ):
        raise fail(
            "input_shape", f"must hold 1 to {MAX_LOOKBACK} time steps and 1 to {MAX_FEATURES} features"
        )
    whole(arch, "n_outputs", 1, MAX_OUTPUTS)
    pick(arch, "head", HEADS)
    if kind == "mlp":
        layers = get(arch, "layers", "", lambda v: isinstance(v, list) and len(v) <= MAX_LAYERS,
                     f"a list of at most {MAX_LAYERS} layers", [])  # fmt: skip
        for index, layer in enumerate(layers):
            at = f"layers[{index}]"
            whole(layer, "units", 1, MAX_UNITS, at)
            pick(layer, "activation", ACTIVATIONS, at, "relu")
            real(layer, "dropout", MAX_DROPOUT, at, 0.0)
            flag(layer, "batch_norm", at, False)
    else:
        if len(shape) != 2:
            raise fail("input_shape", "must be [lookback, features] for a sequence model")
        cell = pick(arch, "cell", SEQUENCE_CELLS)
        whole(arch, "hidden", 1, MAX_HIDDEN)
        whole(arch, "num_layers", 1, MAX_RNN_LAYERS)
        real(arch, "dropout", MAX_RNN_DROPOUT)
        if cell == "cnn1d":
            whole(arch, "kernel_size", 1, MAX_KERNEL)
        else:
            flag(arch, "bidirectional")
    return arch


def _match_preprocessing(arch: dict[str, Any], prep: dict[str, Any], where: str) -> None:
    """architecture.json and preprocessing.json describe the same model input and outputs."""
    labels = prep["labels"]
    outputs = {"binary": 1, "multiclass": len(labels["classes"])}.get(labels["head"], arch["n_outputs"])
    for name, ours, theirs in (
        ("input_shape", arch["input_shape"], prep["input_shape"]),
        ("head", arch["head"], labels["head"]),
        ("n_outputs", arch["n_outputs"], outputs),
    ):
        if ours != theirs:
            raise UserError(
                f"{where}: {name} is {ours} but preprocessing.json says {theirs}; re-export the model"
            )


def build_checked(arch: dict[str, Any], shapes: dict[str, tuple[int, ...]], where: str) -> Any:
    """The untrained module for a checked architecture, once the weights' names and shapes (``shapes``) are known
    to fit it: they are compared with a meta-device skeleton first, so a mismatch allocates nothing."""
    import torch

    from workbench.engine.models import build_model_from_architecture

    with torch.device("meta"):
        skeleton = build_model_from_architecture(arch)
    expected = {name: tuple(value.shape) for name, value in skeleton.state_dict().items()}
    if shapes != expected:
        missing = sorted(set(expected) - set(shapes))
        extra = sorted(set(shapes) - set(expected))
        wrong = [n for n in expected if n in shapes and shapes[n] != expected[n]]
        detail = (
            f"{missing[0]} missing" if missing else f"unexpected {extra[0]}" if extra
            else f"{wrong[0]} is {list(shapes[wrong[0]])}, the architecture needs {list(expected[wrong[0]])}"
        )  # fmt: skip
        raise UserError(f"{where}: the weights do not match the architecture ({detail}); re-export the model")
    return build_model_from_architecture(arch)


def load_module(bundle: LoadedBundle) -> Any:
    """The bundle's module with its weights loaded (safetensors, names and shapes checked first)."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    weights = bundle.path / "weights.safetensors"
    where = f"bundle {bundle.source or bundle.path}: weights.safetensors"
    try:
        with safe_open(str(weights), framework="pt") as handle:
            shapes = {name: tuple(handle.get_slice(name).get_shape()) for name in handle.keys()}  # noqa: SIM118
        module = build_checked(bundle.architecture, shapes, where)
        module.load_state_dict(load_file(str(weights)))
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{where} cannot be loaded ({first[:200]}); re-export the model") from None
    return module


def load_trained_model(path: str | Path | LoadedBundle) -> Any:
    """Rebuild the TrainedModel from architecture.json + weights.safetensors (no pickle)."""
    from workbench.engine.trained import TrainedModel

    bundle = path if isinstance(path, LoadedBundle) else open_bundle(path)
    module = load_module(bundle)
    prep, manifest = bundle.preprocessing, bundle.manifest
    labels = prep["labels"]
    return TrainedModel(
        module=module.eval(),
        architecture=dict(bundle.architecture),
        task=labels["task"],
        classes=list(labels["classes"]),
        target=labels.get("target"),
        feature_names=list(prep["feature_names"]),
        input_schema=dict(prep.get("input_schema", {})),
        chain=[dict(step) for step in prep["steps"]],
        window=prep.get("window"),
        metrics=dict(manifest.get("training_metrics", {})),
        seed=manifest.get("seed") if isinstance(manifest.get("seed"), int) else None,
        images=dict(prep["image"]) if bundle.kind == "image" else None,
    )
