"""``train.supervised``: train a model spec on a dataset with the in-memory engine.

A thin adapter: it turns the dataset into tensors (``workbench.tabular``), builds the module
(``workbench.engine.models``), runs ``workbench.engine.trainer.fit`` with callbacks that report to the run
(throttled progress, per-epoch metrics, log lines), and wraps the result in a ``TrainedModel``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from workbench import params as P
from workbench.errors import UserError
from workbench.nodes.base import NodeSpec, NodeType, PortSpec
from workbench.ports import DATASET, HISTORY, MODEL, MODEL_SPEC

# Auto epochs (epochs = 0), tuned on the tables in docs/examples.md ("Defaults against gradient boosting"):
# stop after AUTO_PATIENCE epochs without a better validation loss, lower the lr by AUTO_LR_FACTOR after
# AUTO_PLATEAU_PATIENCE of them, keep the best epoch's weights.
AUTO_PATIENCE = 10
AUTO_PLATEAU_PATIENCE = 3
AUTO_LR_FACTOR = 0.3
AUTO_MAX_EPOCHS = 200


class SupervisedTrain(NodeType):
    spec = NodeSpec(
        type_id="train.supervised",
        title="Train (supervised)",
        category="train",
        help=(
            "Trains the model on the dataset's training split and reports the validation loss every epoch. "
            "Defaults: Adam, automatic loss (cross-entropy for classes, MSE for numbers), batch size from the "
            "number of rows, and auto epochs: training runs until the validation loss stops improving, then "
            "keeps the best epoch's weights. Stop keeps the weights trained so far."
        ),
        inputs=(
            PortSpec("dataset", DATASET, help="Splits from data.split (and transforms)."),
            PortSpec(
                "model",
                MODEL_SPEC,
                optional=True,
                help="Architecture; default Dense(128, relu), or a GRU(64) for windows from prep.window.",
            ),
        ),
        outputs=(
            PortSpec("model", MODEL, help="Trained weights with the preprocessing chain and label mapping."),
            PortSpec(
                "history", HISTORY, help='Per-epoch losses and metrics: {"records": [...], "metrics": {...}}.'
            ),
        ),
        params=(
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
                AUTO_MAX_EPOCHS,
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
            P.Float(
                "momentum", 0.9, minimum=0.0, maximum=0.999, visible_if={"optimizer": ["sgd", "rmsprop"]}
            ),
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
            P.Int(
                "step_size", 10, minimum=1, visible_if={"scheduler": "step"}, help="Epochs between lr drops."
            ),
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
            P.Int(
                "checkpoint_every", 0, minimum=0, help="Save a resumable checkpoint every N epochs (0 = off)."
            ),
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
        ),
        summary=("epochs", "batch_size", "lr"),
        cacheable=True,
    )

    def run(self, ctx: Any, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        from workbench.engine import device as dev
        from workbench.engine.callbacks import Checkpointer, EarlyStopping, StillImproving
        from workbench.engine.models import build_model, default_spec, head_for
        from workbench.engine.trained import TrainedModel
        from workbench.engine.trainer import TrainConfig, TrainData, fit
        from workbench.images.data import dataset_settings, image_splits, with_image_stats
        from workbench.tabular.auto import prepare_for_training
        from workbench.tabular.tensors import to_tensors

        dataset = inputs["dataset"]
        spec = inputs.get("model")
        request = params["device"] if str(params["device"]).strip().lower() != "auto" else ctx.device
        device = dev.resolve_device(request)
        images = dataset_settings(dataset)  # None for tables; images stream from their files
        if images is None:
            dataset = prepare_for_training(dataset, ctx.log)
            if dataset.stream is None:
                splits = to_tensors(dataset, str(device))
            else:  # a streamed table: the training rows stay in the files (tabular/stream_train.py)
                splits = dataset.stream.tensor_splits(dataset, str(device), ctx.log)
        else:
            splits = image_splits(dataset, images, ctx.log)
        y = splits.y_train
        head, n_outputs = head_for(splits.task, len(splits.classes), int(y.shape[1]) if y.dim() > 1 else 1)
        auto_epochs = params["epochs"] == 0
        batch_size = params["batch_size"] or auto_batch_size(len(splits.x_train))
        scheduler, gamma = params["scheduler"], params["gamma"]
        if scheduler == "auto":
            scheduler, gamma = ("plateau", AUTO_LR_FACTOR) if auto_epochs else ("none", gamma)
        if auto_epochs or not params["batch_size"]:
            ctx.log(_auto_line(auto_epochs, params, batch_size, len(splits.x_train), scheduler))
        config = TrainConfig(
            epochs=params["max_epochs"] if auto_epochs else params["epochs"],
            batch_size=batch_size,
            lr=params["lr"],
            optimizer=params["optimizer"],
            weight_decay=params["weight_decay"],
            momentum=params["momentum"],
            nesterov=params["nesterov"],
            loss=params["loss"],
            label_smoothing=params["label_smoothing"],
            class_weights=_class_weights(params),
            scheduler=scheduler,
            step_size=params["step_size"],
            gamma=gamma,
            plateau_patience=AUTO_PLATEAU_PATIENCE,
            grad_clip=params["grad_clip"],
            seed=params["seed"],
            device=str(device),
            precision=params["precision"],
            threads=params["threads"],
            on_oom=params["on_oom"],
            resume_from=str(ctx.resolve_path(params["resume_from"])) if params.get("resume_from") else None,
            val_batch_size=8192 if images is None else 256,
        )
        spec = spec or default_spec(tuple(splits.x_train.shape[1:]))
        if images is not None:
            spec = with_image_stats(spec, splits.images, ctx.log)
        dev.seed_everything(config.seed)  # same initial weights for the same seed
        module, architecture = build_model(spec, tuple(splits.x_train.shape[1:]), n_outputs, head)
        n_test = len(splits.x_test) if splits.x_test is not None else 0
        callbacks: list[Any] = [NodeReporter(ctx, n_test, auto_epochs=auto_epochs)]
        if params["early_stopping"]:
            callbacks.append(
                EarlyStopping(params["monitor"], params["patience"], restore_best=params["restore_best"])
            )
        elif auto_epochs:
            callbacks.append(EarlyStopping("val_loss", AUTO_PATIENCE, restore_best=True))
        hint = StillImproving(advice=_advice(auto_epochs))
        callbacks.append(hint)
        if params["checkpoint_every"]:
            callbacks.append(Checkpointer(ctx.node_dir / "checkpoints", params["checkpoint_every"]))
        y_val = splits.y_val
        scale = None
        if head == "regression" and params["scale_target"]:
            scale = target_scaling(y)
            y, y_val = scale.forward(y), (scale.forward(y_val) if y_val is not None else None)
            ctx.log("target standardised for training; predictions are in the original units")
            if scale.std.numel() == 1:
                callbacks[0].mae_factor = float(scale.std.reshape(()))
        data = TrainData(splits.x_train, y, splits.x_val, y_val, head, len(splits.classes))
        from workbench.distributed import current as current_world

        world = current_world()  # one of several processes (workbench run --nproc N, torchrun): all train
        try:
            if world is None:
                result = fit(module, data, config, callbacks, control=ctx.token, architecture=architecture)
            else:
                from workbench.distributed.jobs import fit_everywhere

                result = fit_everywhere(
                    world, module, data, config, callbacks, ctx.token, architecture, ctx.log
                )
        finally:
            if images is not None:
                splits.close()
        module = result.model.to("cpu").eval()
        metrics = dict(result.metrics)
        metrics["auto_epochs"] = auto_epochs
        metrics["still_improving"] = hint.fired
        if scale is not None:
            scale.fold_into(module)
            scale.to_original_units(metrics, result.history)
        trained = TrainedModel(
            module=module,
            architecture=architecture,
            task=splits.task,
            classes=list(splits.classes),
            target=dataset.target,
            feature_names=list(splits.feature_names),
            input_schema=dict(dataset.input_schema),
            chain=[dict(step) for step in dataset.chain],
            window=dict(dataset.window) if dataset.window else None,
            history=[dict(r) for r in result.history],
            metrics=metrics,
            seed=config.seed,
            images=dict(splits.images, mean=architecture["mean"], std=architecture["std"])
            if images
            else None,
        )
        history = {"records": [dict(r) for r in result.history], "metrics": metrics}
        return {"model": trained, "history": history}


class TargetScaling:
    """Standardises regression targets for training, then folds the inverse into the output layer.

    Folding (W' = W·std, b' = b·std + mean) keeps the architecture unchanged, so the in-app model, the ONNX
    export and the bundle all predict in original units with no extra step to forget.
    """

    def __init__(self, mean: Any, std: Any) -> None:
        self.mean, self.std = mean, std

    def forward(self, y: Any) -> Any:
        return (y - self.mean.to(y.device)) / self.std.to(y.device)

    def fold_into(self, module: Any) -> None:
        import torch

        head = getattr(module, "head", None)
        if not isinstance(head, torch.nn.Linear):
            raise RuntimeError("cannot fold target scaling: the model has no linear output layer 'head'")
        mean, std = self.mean.to("cpu", torch.float32), self.std.to("cpu", torch.float32)
        with torch.no_grad():
            head.weight.mul_(std.unsqueeze(1))
            head.bias.mul_(std).add_(mean)

    def to_original_units(self, metrics: dict[str, Any], history: list[dict[str, Any]]) -> None:
        """MAE figures scale back exactly for one target; losses stay in standard units (said in the name)."""
        if self.std.numel() != 1:
            return
        factor = float(self.std.reshape(()))
        for record in [metrics, *history]:
            for key in list(record):
                if key.endswith("_mae") and isinstance(record[key], int | float):
                    record[key] = record[key] * factor
        metrics["target_scaled"] = True


def target_scaling(y: Any) -> TargetScaling:
    mean = y.mean(dim=0)
    std = y.std(dim=0, unbiased=False).clamp_min(1e-12)
    return TargetScaling(mean, std)


def auto_batch_size(n_rows: int) -> int:
    """About 1/64 of the training rows as a power of two, within 32..512.

    Why: batch 64 gave a 240-row table 4 optimiser steps per epoch (penguins needed ~200 epochs to converge),
    while 38,000 rows at batch 32 spent minutes per run on a CPU for no better model; see docs/examples.md.
    """
    if n_rows < 64:
        return 32
    return int(min(512, max(32, 2 ** round(math.log2(n_rows / 64)))))


def _auto_line(
    auto_epochs: bool, params: Mapping[str, Any], batch_size: int, n_rows: int, scheduler: str
) -> str:
    """One log line naming what the automatic settings chose, so a run's log says how it was trained."""
    parts = []
    if auto_epochs:
        if params["early_stopping"]:
            rule = f"until {params['monitor']} has not improved for {params['patience']} epochs"
        else:
            rule = f"until the validation loss has not improved for {AUTO_PATIENCE} epochs"
        parts.append(f"training {rule} (at most {params['max_epochs']}), keeping the best weights")
        if scheduler == "plateau" and params["scheduler"] == "auto":
            parts.append(f"lr ×{AUTO_LR_FACTOR} after {AUTO_PLATEAU_PATIENCE} epochs without improvement")
    if not params["batch_size"]:
        parts.append(f"batch size {batch_size} for {n_rows:,} training rows")
    return "auto: " + "; ".join(parts)


def _advice(auto_epochs: bool) -> str:
    if auto_epochs:
        return "raise max_epochs (e.g. to {suggested})"
    return (
        "set epochs to 0 (auto: trains until the validation loss stops improving) or try epochs={suggested}"
    )


def _class_weights(params: Mapping[str, Any]) -> Any:
    mode = params["class_weights"]
    if mode != "custom":
        return mode
    text = str(params.get("custom_class_weights", ""))
    try:
        return [float(part) for part in text.replace(";", ",").split(",") if part.strip()]
    except ValueError:
        raise UserError(f"custom_class_weights: {text!r} is not a comma-separated list of numbers") from None


class NodeReporter:
    """Engine callback → run events: fit started, throttled progress, per-epoch metrics, checkpoints, end.

    Kept duck-typed (no engine import at module level) so this module imports without torch.
    """

    order = 50

    def __init__(self, ctx: Any, n_test: int = 0, interval_s: float = 0.1, auto_epochs: bool = False) -> None:
        from workbench.engine.callbacks import ProgressReporter

        self.ctx = ctx
        self.n_test = n_test
        self.mae_factor = 1.0
        self.auto_epochs = auto_epochs
        self.progress = ProgressReporter(ctx.progress, interval_s, open_ended=auto_epochs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("on_"):
            return _noop
        raise AttributeError(name)

    def on_fit_start(self, state: Any) -> None:
        from workbench.engine.device import device_name
        from workbench.events import FitStarted

        resumed = f" · resumed after epoch {state.start_epoch}" if state.start_epoch else ""
        epochs = f"auto (at most {state.epochs})" if self.auto_epochs else f"{state.epochs}"
        self.ctx.log(
            f"fit started: {state.n_parameters:,} parameters ({state.n_trainable:,} trainable) · "
            f"{device_name(state.device)} · {state.precision} · train {state.n_train:,} / val {state.n_val:,} / "
            f"test {self.n_test:,} rows · batch {state.batch_size} · {epochs} epochs{resumed}"
        )
        self.ctx.emit(
            FitStarted(
                self.ctx.node_id,
                device_name(state.device),
                str(state.precision),
                int(state.n_parameters),
                int(state.batch_size),
                None if self.auto_epochs else int(state.epochs),
            )
        )

    def on_progress(self, state: Any) -> None:
        self.progress.on_progress(state)

    def on_epoch_end(self, state: Any, record: dict[str, Any]) -> None:
        self.progress.on_epoch_end(state, record)
        values = {k: float(v) for k, v in record.items() if k != "epoch" and isinstance(v, int | float)}
        for key in values:
            if key.endswith("_mae"):
                values[key] *= self.mae_factor  # original units when the target was standardised
        self.ctx.metrics(state.epoch, values)

    def on_checkpoint(self, state: Any, path: Any) -> None:
        self.ctx.log(f"checkpoint saved: {path}")
        if hasattr(self.ctx, "artifact"):  # listed in the run report; resume_from takes it
            self.ctx.artifact("checkpoint", path.parent / "last.pt")

    def on_log(self, state: Any, message: str) -> None:
        self.ctx.log(message)

    def on_fit_end(self, state: Any) -> None:
        if state.stop_reason == "user":
            self.ctx.log(
                f"stopped by the user in epoch {state.epoch}, batch {state.batch}; keeping the weights so far"
            )
        rate = state.samples_per_second()
        self.ctx.log(f"finished: {state.last_epoch_done} epoch(s) at {rate:,.0f} samples/s")


def _noop(*args: Any) -> None:
    return None


NODE_TYPES = (SupervisedTrain,)
