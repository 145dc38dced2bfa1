"""The training settings: one list of parameter specs that is both the ``train.supervised`` node's parameters
and the source of :class:`TrainConfig`'s fields and defaults (``workbench.engine.trainer`` re-exports it).

No torch here (the node catalog reads the specs before torch is imported). The automatic choices
(``epochs = 0``, ``batch_size = 0``, ``scheduler = auto``) are made by :func:`resolve_auto`, which the
trainer applies, so a script calling ``fit`` gets what the node gets.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from workbench import params as P

# Auto epochs (epochs = 0), tuned on the tables in docs/examples.md ("Defaults against gradient boosting"):
# stop after AUTO_PATIENCE epochs without a better validation loss, lower the lr by AUTO_LR_FACTOR after
# AUTO_PLATEAU_PATIENCE of them, keep the best epoch's weights.
AUTO_PATIENCE = 10
AUTO_PLATEAU_PATIENCE = 3
AUTO_LR_FACTOR = 0.3

TRAIN_PARAMS: tuple[P.Param, ...] = (
    P.Int(
        "epochs",
        0,
        minimum=0,
        maximum=100000,
        help=(
            "Passes over the training data. 0 = auto: train until the validation loss has not improved "
            f"for {AUTO_PATIENCE} epochs (at most max_epochs), then keep the best epoch's weights."
        ),
    ),
    P.Int(
        "max_epochs",
        200,
        minimum=1,
        maximum=100000,
        visible_if={"epochs": 0},
        help="Auto epochs only: the most passes over the training data.",
    ),
    P.Int(
        "batch_size",
        0,
        minimum=0,
        maximum=1 << 20,
        help="Rows per optimiser step. 0 = auto: about 1/64 of the training rows, between 32 and 512.",
    ),
    P.Float("lr", 1e-3, minimum=1e-8, maximum=10.0, log_scale=True, label="Learning rate"),
    P.Choice(
        "optimizer",
        "adam",
        choices=("adam", "adamw", "sgd", "rmsprop"),
        labels={"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop"},
    ),
    P.Float("weight_decay", 0.0, minimum=0.0, maximum=1.0),
    P.Float("momentum", 0.9, minimum=0.0, maximum=0.999, visible_if={"optimizer": ["sgd", "rmsprop"]}),
    P.Bool("nesterov", False, visible_if={"optimizer": "sgd"}),
    P.Choice(
        "loss",
        "auto",
        choices=("auto", "cross_entropy", "bce", "mse", "mae", "huber"),
        help="auto: cross-entropy for classes (binary cross-entropy for two), MSE for numbers.",
    ),
    P.Float(
        "label_smoothing",
        0.0,
        minimum=0.0,
        maximum=0.5,
        visible_if={"loss": ["auto", "cross_entropy", "bce"]},
    ),
    P.Choice(
        "class_weights",
        "none",
        choices=("none", "balanced", "custom"),
        help="balanced: rare classes count more (n / (classes × count)).",
    ),
    P.Str(
        "custom_class_weights",
        "",
        visible_if={"class_weights": "custom"},
        placeholder="1, 2.5, 1",
        help="One weight per class, in the order of the dataset's classes.",
    ),
    P.Choice(
        "scheduler",
        "auto",
        choices=("auto", "none", "step", "cosine", "one_cycle", "plateau"),
        help=(
            "How the learning rate changes during training. auto: with auto epochs, "
            f"×{AUTO_LR_FACTOR} after {AUTO_PLATEAU_PATIENCE} epochs without a better validation loss; "
            "otherwise constant."
        ),
    ),
    P.Int("step_size", 10, minimum=1, visible_if={"scheduler": "step"}, help="Epochs between lr drops."),
    P.Float(
        "gamma",
        0.1,
        minimum=0.0,
        maximum=1.0,
        visible_if={"scheduler": ["step", "plateau"]},
        help="Factor applied to the lr at each drop.",
    ),
    P.Float("grad_clip", 0.0, minimum=0.0, help="Clip the gradient norm to this value (0 = off)."),
    P.Int("seed", 0, minimum=0, help="Same seed, same data, same device: same result."),
    P.Bool(
        "early_stopping",
        False,
        help=(
            "Stop when the monitored value stops improving. Auto epochs always stop this way "
            f"(validation loss, patience {AUTO_PATIENCE}, best weights kept); tick to choose yourself."
        ),
    ),
    P.Choice(
        "monitor",
        "val_loss",
        choices=("val_loss", "train_loss", "val_accuracy"),
        visible_if={"early_stopping": True},
    ),
    P.Int(
        "patience",
        5,
        minimum=1,
        visible_if={"early_stopping": True},
        help="Epochs without improvement.",
    ),
    P.Bool(
        "restore_best",
        True,
        visible_if={"early_stopping": True},
        help="End with the best epoch's weights.",
    ),
    P.Int("checkpoint_every", 0, minimum=0, help="Save a resumable checkpoint every N epochs (0 = off)."),
    P.Path(
        "resume_from",
        "",
        optional=True,
        filters=("Checkpoint (*.pt)",),
        help="Continue an earlier run from its checkpoint (same model and settings).",
    ),
    P.Str("device", "auto", help="auto (CUDA, else Apple MPS, else CPU), cpu, cuda, cuda:N or mps."),
    P.Choice(
        "precision",
        "auto",
        choices=("auto", "fp32", "bf16", "fp16"),
        help="auto: bf16 on GPUs that support it, fp16 on other GPUs, fp32 on the CPU.",
    ),
    P.Choice(
        "on_oom",
        "fail",
        choices=("fail", "halve"),
        label="On out of memory",
        help="halve: halve the batch size and continue instead of stopping.",
    ),
    P.Bool(
        "scale_target",
        True,
        label="Standardise target",
        help="Regression only: learn the target in standard units (mean 0, std 1 on the training split), "
        "then fold the scaling back into the output layer so predictions come out in original units.",
    ),
    P.Int(
        "threads",
        0,
        minimum=0,
        maximum=1024,
        help="CPU threads (0 = all but one, left for the window).",
    ),
)

_BY_NAME = {spec.name: spec for spec in TRAIN_PARAMS}
# Settings of the node only: a checkpoint folder, the target's scaling and the text form of custom weights.
NODE_ONLY = ("checkpoint_every", "scale_target", "custom_class_weights")


def default(name: str) -> Any:
    """The one default of a training setting (TrainConfig's field defaults read it)."""
    return P.default_values([_BY_NAME[name]])[name]


def auto_batch_size(n_rows: int) -> int:
    """About 1/64 of the training rows as a power of two, within 32..512.

    Why: batch 64 gave a 240-row table 4 optimiser steps per epoch (penguins needed ~200 epochs to converge),
    while 38,000 rows at batch 32 spent minutes per run on a CPU for no better model; see docs/examples.md.
    """
    if n_rows < 64:
        return 32
    return int(min(512, max(32, 2 ** round(math.log2(n_rows / 64)))))


def resolve_auto(values: Mapping[str, Any], n_rows: int) -> dict[str, Any]:
    """The settings that replace the automatic ones for ``n_rows`` training rows (empty when none is auto).

    ``epochs = 0``: at most ``max_epochs``, stopping after AUTO_PATIENCE epochs without a better validation
    loss and keeping the best weights (unless ``early_stopping`` chooses otherwise); ``batch_size = 0``:
    :func:`auto_batch_size`; ``scheduler = auto``: plateau (×AUTO_LR_FACTOR) with auto epochs, else none.
    Applying the result again changes nothing.
    """
    changes: dict[str, Any] = {}
    auto_epochs = values["epochs"] == 0
    if auto_epochs:
        changes["epochs"] = values["max_epochs"]
        if not values["early_stopping"]:
            changes.update(early_stopping=True, monitor="val_loss", patience=AUTO_PATIENCE, restore_best=True)
    if not values["batch_size"]:
        changes["batch_size"] = auto_batch_size(n_rows)
    if values["scheduler"] == "auto":
        changes.update(scheduler="plateau", gamma=AUTO_LR_FACTOR) if auto_epochs else changes.update(
            scheduler="none"
        )
    return changes


def describe_auto(values: Mapping[str, Any], changes: Mapping[str, Any], n_rows: int) -> str:
    """One log line naming what the automatic settings chose (empty when none was automatic)."""
    parts = []
    if "epochs" in changes:
        if values["early_stopping"]:
            rule = f"until {values['monitor']} has not improved for {values['patience']} epochs"
        else:
            rule = f"until the validation loss has not improved for {AUTO_PATIENCE} epochs"
        parts.append(f"training {rule} (at most {values['max_epochs']}), keeping the best weights")
        if changes.get("scheduler") == "plateau":
            parts.append(f"lr ×{AUTO_LR_FACTOR} after {AUTO_PLATEAU_PATIENCE} epochs without improvement")
    if "batch_size" in changes:
        parts.append(f"batch size {changes['batch_size']} for {n_rows:,} training rows")
    return "auto: " + "; ".join(parts) if parts else ""


@dataclass
class TrainConfig:
    """Everything the loop needs to know. The fields named like the ``train.supervised`` parameters take their
    defaults from :data:`TRAIN_PARAMS` (the one place they are written); 0 and
    ``auto`` are chosen by :meth:`resolved` when ``fit`` starts. The rest are the engine's own knobs."""

    epochs: int = default("epochs")  # 0 = auto: at most max_epochs, early stopping on the validation loss
    max_epochs: int = default("max_epochs")
    batch_size: int = default("batch_size")  # 0 = auto: from the number of training rows
    lr: float = default("lr")
    optimizer: str = default("optimizer")
    weight_decay: float = default("weight_decay")
    momentum: float = default("momentum")
    nesterov: bool = default("nesterov")
    fused: bool | None = None  # None: fused kernels where the optimiser and device support them
    loss: str = default("loss")
    label_smoothing: float = default("label_smoothing")
    class_weights: str | Sequence[float] | None = default("class_weights")  # none, balanced, or per class
    scheduler: str = default("scheduler")
    step_size: int = default("step_size")
    gamma: float = default("gamma")
    plateau_patience: int = AUTO_PLATEAU_PATIENCE
    grad_clip: float = default("grad_clip")  # max gradient norm; 0 = off
    seed: int | None = default("seed")
    early_stopping: bool = default("early_stopping")  # with monitor/patience/restore_best: fit adds it
    monitor: str = default("monitor")
    patience: int = default("patience")
    restore_best: bool = default("restore_best")
    device: str = default("device")
    precision: str = default("precision")
    threads: int = default("threads")  # >0 that many; 0 leave one core for the GUI; <0 leave torch's alone
    on_oom: str = default("on_oom")  # fail | halve
    resume_from: str | None = default("resume_from") or None
    freeze_gc: bool = True
    read_every: int = 16  # batches between looks at the clock (a device read happens at most every interval)
    progress_interval_s: float = 0.1
    val_batch_size: int = 8192
    permute_limit_bytes: int = 1 << 30  # permute the whole split per epoch below this size, else gather

    @classmethod
    def from_params(cls, params: Mapping[str, Any], **engine: Any) -> TrainConfig:
        """The config for resolved ``train.supervised`` parameters (same names), plus engine-only fields."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in params.items() if k in names}
        if values.get("resume_from") == "":
            values["resume_from"] = None
        return cls(**{**values, **engine})

    def auto_choices(self, n_train: int) -> dict[str, Any]:
        """The settings :meth:`resolved` would change for ``n_train`` rows (for a log line)."""
        return resolve_auto(dataclasses.asdict(self), n_train)

    def resolved(self, n_train: int) -> TrainConfig:
        """Every automatic setting chosen for ``n_train`` training rows; resolving again changes nothing."""
        changes = self.auto_choices(n_train)
        return dataclasses.replace(self, **changes) if changes else self


def _check_fields() -> None:
    """Every training parameter the node has is a TrainConfig field (or named node-only): no silent drop."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    missing = [s.name for s in TRAIN_PARAMS if s.name not in fields and s.name not in NODE_ONLY]
    if missing:
        raise RuntimeError(f"TrainConfig lacks training parameters {missing}")


_check_fields()
