"""Image nodes: a folder (or table) of labelled pictures in, augmentation, and image models.

Thin adapters over ``workbench.images`` and ``workbench.engine.vision``. ``data.images`` outputs an ordinary
table (``path``, ``label``) so data.split, the executor's cache and the data view work unchanged; the table
carries its image settings in ``attrs`` and the train node streams the pictures from their files.
No Pillow, Kornia or torch at import: the catalog loads without them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any

from workbench import params as P
from workbench import ports
from workbench.errors import UserError
from workbench.nodes.base import NodeSpec, NodeType, PortSpec
from workbench.nodes.model import model_node, model_nodes

if TYPE_CHECKING:
    from workbench.execution.context import NodeContext

POLICY_LABELS = {"squash": "Squash to square", "crop": "Centre crop", "pad": "Pad with black"}


class DataImages(NodeType):
    spec = NodeSpec(
        type_id="data.images",
        title="Image folder",
        category="collect",
        help=(
            "Labelled pictures: a folder with one sub-folder per class (cats/, dogs/ …), or a table with a "
            "path column and a label column. Outputs a table of paths and labels for data.split (target "
            "'label'); files that cannot be read are listed in the log and skipped. Every image is resized "
            "to size × size pixels by the resize policy, when training and when predicting."
        ),
        outputs=(PortSpec("table", ports.TABLE, help="Columns path (the image) and label."),),
        params=(
            P.Path(
                "path",
                "",
                help="A folder of class folders, or a table file (CSV …) naming the images.",
                filters=("Folder or table (*.csv *.tsv *.txt *.parquet *.xlsx *.json)", "All files (*)"),
            ),
            P.Int("size", 32, minimum=4, maximum=1024, help="Pixels per side the model sees."),
            P.Choice(
                "policy",
                "squash",
                choices=("squash", "crop", "pad"),
                labels=POLICY_LABELS,
                help="squash: ignore the aspect ratio; crop: cut the centre square; pad: fit inside, black bars.",
            ),
            P.Choice(
                "channels",
                "auto",
                choices=("auto", "grey", "colour"),
                help="auto: colour when any picture has colour, else grey.",
            ),
            P.Str("path_column", "path", help="Table input only: the column naming each image file."),
            P.Str("label_column", "label", help="Table input only: the column with each image's class."),
        ),
        summary=("path", "size"),
    )

    def run(self, ctx: NodeContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        import pandas as pd

        from workbench.images import IMAGES_ATTR
        from workbench.images.decode import channels_for, list_folder, list_table, settings_check

        source = ctx.resolve_path(params["path"])
        if source.is_dir():
            listing = list_folder(source, ctx.check_cancelled)
        else:
            from workbench.tabular.io import read_table

            table = read_table(source, log=ctx.log)
            listing = list_table(table, source.parent, params["path_column"], params["label_column"],
                                 ctx.check_cancelled)  # fmt: skip
        channels = channels_for(params["channels"], listing)
        settings_check(params["size"], params["policy"], channels)
        for path, reason in listing.skipped[:5]:
            ctx.log(f"skipped {path}: {reason}")
        if listing.skipped:
            ctx.warn(f"{len(listing.skipped):,} file(s) could not be read as images and were skipped")
        if not listing.paths:
            raise UserError(f"data.images: no readable images in {source}")
        counts = listing.counts()
        shown = ", ".join(f"{label} {n:,}" for label, n in list(counts.items())[:12])
        sizes = listing.size_summary()
        ctx.log(
            f"{len(listing.paths):,} images in {len(counts)} classes ({shown}{' …' if len(counts) > 12 else ''}); "
            f"sizes {sizes['min'][0]}×{sizes['min'][1]} to {sizes['max'][0]}×{sizes['max'][1]} px, "
            f"fed as {params['size']}×{params['size']} {'colour' if channels == 3 else 'grey'} ({params['policy']})"
            + (f"; {listing.ignored} non-image file(s) ignored" if listing.ignored else "")
        )
        frame = pd.DataFrame({"path": listing.paths, "label": listing.labels})
        frame.attrs[IMAGES_ATTR] = {
            "column": "path",
            "size": int(params["size"]),
            "policy": params["policy"],
            "channels": channels,
            "source": str(source),
            "counts": counts,
            "sizes": sizes,
            "skipped": len(listing.skipped),
            "skipped_files": [list(item) for item in listing.skipped[:50]],
        }
        return {"table": frame}

    def fingerprint_extra(self, params: Mapping[str, Any], resolve_path: Any) -> str:
        """A folder is every file under it (name, size, mtime): adding or replacing a picture re-runs."""
        try:
            root = FsPath(resolve_path(params["path"]))
        except (UserError, OSError, KeyError, TypeError):
            return ""
        if not root.is_dir():
            return ""
        digest = hashlib.sha256()
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                try:
                    info = os.stat(os.path.join(dirpath, name))
                except OSError:
                    continue
                digest.update(
                    f"{dirpath}/{name}:{info.st_size}:{info.st_mtime_ns}\n".encode("utf-8", "replace")
                )
        return digest.hexdigest()


class PrepImageAugment(NodeType):
    spec = NodeSpec(
        type_id="prep.image_augment",
        title="Augment images",
        category="transform",
        help=(
            "Random rotations, crops, shifts, flips and colour changes of the training images, drawn anew "
            "every epoch on the training device (seeded by the train node's seed). Validation and test "
            "images and predictions are never augmented. The data view previews eight draws."
        ),
        inputs=(
            PortSpec("dataset", ports.DATASET, help="Splits of an image table (data.images → data.split)."),
        ),
        outputs=(PortSpec("dataset", ports.DATASET),),
        params=(
            P.Float("rotation", 10.0, minimum=0.0, maximum=180.0, help="Rotate up to ± this many degrees."),
            P.Float(
                "scale_min",
                0.85,
                minimum=0.05,
                maximum=1.0,
                help="Random resized crop keeping at least this share of the area (1 = off).",
            ),  # fmt: skip
            P.Float("translate", 0.05, minimum=0.0, maximum=0.5, help="Shift up to this share of the side."),
            P.Float(
                "hflip",
                0.5,
                minimum=0.0,
                maximum=1.0,
                help="Probability of a left-right mirror; 0 for digits, text or anything whose mirror image is "
                "another class.",
            ),  # fmt: skip
            P.Float("vflip", 0.0, minimum=0.0, maximum=1.0, help="Probability of an upside-down flip."),
            P.Float("brightness", 0.1, minimum=0.0, maximum=1.0),
            P.Float("contrast", 0.1, minimum=0.0, maximum=1.0),
            P.Float("saturation", 0.0, minimum=0.0, maximum=1.0, help="Colour images only."),
            P.Float("hue", 0.0, minimum=0.0, maximum=0.5, help="Colour images only."),
            P.Float(
                "p", 0.8, minimum=0.0, maximum=1.0, help="Probability that each random change is applied."
            ),
        ),
        summary=("rotation", "hflip"),
    )

    def run(self, ctx: NodeContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        from workbench.images.augment import AUGMENT_OP, DEFAULTS
        from workbench.images.data import dataset_settings, describe

        dataset = inputs["dataset"]
        if dataset_settings(dataset) is None:
            raise UserError("prep.image_augment: the dataset holds no images; for tables use prep.augment")
        config = {key: float(params[key]) for key in DEFAULTS}
        ctx.log("training images will be augmented: " + describe(config))
        record = {"op": AUGMENT_OP, "settings": config}
        kept = [a for a in dataset.augmentations if a.get("op") != AUGMENT_OP]
        return {"dataset": dataset.replace(augmentations=[*kept, record])}


CNNModel = model_node("cnn")
ResNetModel = model_node("resnet")


def __getattr__(name: str) -> Any:
    """``NODE_TYPES``: the image nodes, then a model node per registered image architecture."""
    if name == "NODE_TYPES":
        return (DataImages, PrepImageAugment, *model_nodes(("images",)))
    raise AttributeError(name)
