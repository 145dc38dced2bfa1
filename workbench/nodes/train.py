"""``train.supervised``: train a model spec on a dataset with the in-memory engine.

A thin adapter: it turns the dataset into tensors (``workbench.tabular``), builds the module
(``workbench.engine.models``), standardises a regression target (``workbench.engine.target_scaling``), runs
``workbench.engine.trainer.train`` (one process, or every process of a distributed run) with callbacks that
report to the run (throttled progress, per-epoch metrics, log lines), and wraps the result in a
``TrainedModel``. Its parameters, their defaults and the automatic choices are the engine's
(``workbench.engine.train_params``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from workbench.engine.train_params import TRAIN_PARAMS, auto_batch_size, describe_auto
from workbench.engine.train_params import default as setting_default
from workbench.errors import UserError
from workbench.nodes.base import NodeSpec, NodeType, PortSpec
from workbench.ports import DATASET, HISTORY, MODEL, MODEL_SPEC

if TYPE_CHECKING:
    from workbench.execution.context import NodeContext

__all__ = ["AUTO_MAX_EPOCHS", "NODE_TYPES", "NodeReporter", "SupervisedTrain", "auto_batch_size"]

AUTO_MAX_EPOCHS = setting_default("max_epochs")  # the cap of auto epochs (the spec holds the number)


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
        params=TRAIN_PARAMS,  # workbench/engine/train_params.py: also TrainConfig's fields and defaults
        summary=("epochs", "batch_size", "lr"),
        cacheable=True,
    )

    def run(self, ctx: NodeContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        from workbench.engine import device as dev
        from workbench.engine.callbacks import Checkpointer, StillImproving
        from workbench.engine.models import build_model, default_spec, head_for
        from workbench.engine.target_scaling import TargetScaling
        from workbench.engine.trained import TrainedModel
        from workbench.engine.trainer import TrainConfig, TrainData, train
        from workbench.images.data import dataset_settings, image_splits, with_image_stats
        from workbench.tabular.auto import prepare_for_training
        from workbench.tabular.tensors import to_tensors

        dataset = inputs["dataset"]
        spec = inputs.get("model")
        request = params["device"] if str(params["device"]).strip().lower() != "auto" else ctx.device
        device = dev.resolve_device(request)
        images = dataset_settings(dataset)  # None for tables; images stream from their files
        splits: Any  # TensorSplits, or ImageSplits reading the pictures from their files
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
        n_train = len(splits.x_train)
        config = TrainConfig.from_params(
            params,
            class_weights=_class_weights(params),
            device=str(device),
            resume_from=str(ctx.resolve_path(params["resume_from"])) if params.get("resume_from") else None,
            val_batch_size=8192 if images is None else 256,
        )
        auto_line = describe_auto(params, config.auto_choices(n_train), n_train)
        if auto_line:
            ctx.log(auto_line)
        config = config.resolved(n_train)
        spec = spec or default_spec(tuple(splits.x_train.shape[1:]))
        if images is not None:
            spec = with_image_stats(spec, splits.images, ctx.log)
        dev.seed_everything(config.seed)  # same initial weights for the same seed
        module, architecture = build_model(spec, tuple(splits.x_train.shape[1:]), n_outputs, head)
        y_val = splits.y_val
        scale = None
        if head == "regression" and params["scale_target"]:
            scale = TargetScaling.fit(y)
            y, y_val = scale.forward(y), (scale.forward(y_val) if y_val is not None else None)
            ctx.log("target standardised for training; predictions are in the original units")
        n_test = len(splits.x_test) if splits.x_test is not None else 0
        mae_factor = scale.mae_factor if scale is not None else 1.0
        hint = StillImproving(advice=_advice(auto_epochs))
        callbacks: list[Any] = [
            NodeReporter(ctx, n_test, auto_epochs=auto_epochs, mae_factor=mae_factor),
            hint,
        ]
        if params["checkpoint_every"]:
            callbacks.append(Checkpointer(ctx.node_dir / "checkpoints", params["checkpoint_every"]))
        data = TrainData(splits.x_train, y, splits.x_val, y_val, head, len(splits.classes))
        try:  # in this process, or on every process of a distributed run (workbench run --nproc N, torchrun)
            result = train(module, data, config, callbacks, ctx.token, architecture, ctx.log)
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

    def __init__(
        self,
        ctx: NodeContext,
        n_test: int = 0,
        interval_s: float = 0.1,
        auto_epochs: bool = False,
        mae_factor: float = 1.0,
    ) -> None:
        from workbench.engine.callbacks import ProgressReporter

        self.ctx = ctx
        self.n_test = n_test
        self.mae_factor = mae_factor  # original units for MAE when the target was standardised
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
