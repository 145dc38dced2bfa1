"""Training jobs: rank 0 hands one to every rank; the other ranks serve them until the run ends."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from workbench.distributed import PEER_EXIT
from workbench.distributed.world import AgreedError, PeerLost, World, is_peer_error
from workbench.errors import UserError

if TYPE_CHECKING:
    import torch

    from workbench.engine.trainer import FitResult, TrainConfig, TrainData


def _early_stopping_specs(callbacks: Sequence[Any]) -> list[dict[str, Any]]:
    from workbench.engine.callbacks import EarlyStopping

    return [
        {
            "monitor": cb.monitor,
            "patience": cb.patience,
            "min_delta": cb.min_delta,
            "restore_best": False,  # only rank 0's weights are kept
            "mode": cb.mode,
        }
        for cb in callbacks
        if isinstance(cb, EarlyStopping)
    ]


def install(world: World | None) -> None:
    """Make the engine's ``train`` hand every fit to all processes while ``world`` is set (rank 0 runs the
    pipeline; its train node calls ``workbench.engine.trainer.train`` without knowing of the world)."""
    import functools

    from workbench.engine import trainer

    trainer.use_runner(None if world is None else functools.partial(fit_everywhere, world))


def fit_everywhere(
    world: World,
    module: torch.nn.Module,
    data: TrainData,
    config: TrainConfig,
    callbacks: Sequence[Any],
    control: Any,
    architecture: dict[str, Any],
    log: Callable[[str], None] = lambda message: None,
) -> FitResult:
    """Rank 0: send the job (settings, architecture, tensors) to every rank, then train with them.

    A failure the ranks agreed on (a diverging loss, a checkpoint that does not fit) leaves them in step;
    any other failure marks the world broken, and a later training node in the same run refuses to start.
    """
    from workbench.engine.trainer import fit

    if world.broken:
        raise UserError(
            f"distributed: the processes are out of step after an earlier failure ({world.broken}); "
            "run the pipeline again"
        )
    import torch

    stream: Any = data.x_train if hasattr(data.x_train, "to_job") else None  # a streamed table's rows
    if stream is not None:
        units = sum(1 for n in stream.split.fragment_train_rows if n)
        if units < world.size:
            raise UserError(
                f"stream: {world.size} processes but only {units} Parquet row group(s) hold training rows; write "
                "the table in more row groups or files, or start fewer processes"
            )
    elif not isinstance(data.x_train, torch.Tensor):
        raise UserError(
            "distributed: this training data streams from files (images); train it in one process "
            "(leave out --nproc / torchrun)"
        )
    config = dataclasses.replace(config, device=str(world.device), threads=world.threads(config.threads))
    tensors = [
        (name, value)
        for name, value in (
            ("x_train", None if stream is not None else data.x_train),
            ("y_train", data.y_train),
            ("x_val", data.x_val),
            ("y_val", data.y_val),
        )
        if value is not None
    ]
    job = {
        "kind": "fit",
        "config": dataclasses.asdict(config),
        "architecture": architecture,
        "head": data.head,
        "n_classes": int(data.n_classes),
        "tensors": [[name, list(value.shape), str(value.dtype)] for name, value in tensors],
        "frozen": [name for name, p in module.named_parameters() if not p.requires_grad],
        "early_stopping": _early_stopping_specs(callbacks),
        "stream": stream.to_job() if stream is not None else None,
    }
    try:
        world.send(job)
        for _name, value in tensors:
            world.broadcast_tensor(value, list(value.shape), str(value.dtype))
        log(
            f"distributed: {world.describe()}; batch {config.batch_size} = {world.size} × "
            f"{world.rank_batch(config.batch_size)} rows per process per step"
        )
        result = fit(
            module, data, config, list(callbacks), control=control, architecture=architecture, world=world
        )
    except AgreedError:
        raise
    except BaseException as exc:
        if is_peer_error(exc):
            world.broken = "a process was lost"
            raise UserError(
                "distributed: lost contact with another process during training, so every process stops "
                "(the launcher names the one that failed)"
            ) from None
        world.broken = type(exc).__name__
        raise
    finally:
        world.forget_model()
    result.metrics["processes"] = world.size
    result.metrics["backend"] = world.backend
    if result.stopped and control is not None and not control.cancelled and hasattr(control, "cancel"):
        control.cancel()  # a stop asked for on any process stops the run, not just the training
    return result


def _run_job(world: World, job: dict[str, Any], token: Any) -> None:
    from workbench.engine.callbacks import EarlyStopping
    from workbench.engine.models import build_model_from_architecture
    from workbench.engine.trainer import TrainConfig, TrainData, fit

    tensors: dict[str, Any] = {
        name: world.broadcast_tensor(None, shape, dtype) for name, shape, dtype in job["tensors"]
    }
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in job["config"].items() if k in known})
    config.device = str(world.device)
    config.restore_best = False  # early stopping from the settings: only rank 0's weights are kept
    module = build_model_from_architecture(job["architecture"])
    frozen = set(job.get("frozen", []))
    for name, p in module.named_parameters():
        if name in frozen:
            p.requires_grad_(False)
    callbacks: list[Any] = [EarlyStopping(**spec) for spec in job.get("early_stopping", [])]
    if job.get("stream"):
        from workbench.tabular.stream_train import TrainStream

        tensors["x_train"] = TrainStream.from_job(job["stream"])
    data = TrainData(
        tensors["x_train"],
        tensors["y_train"],
        tensors.get("x_val"),
        tensors.get("y_val"),
        job["head"],
        int(job.get("n_classes", 0)),
    )
    try:
        fit(module, data, config, callbacks, control=token, architecture=job["architecture"], world=world)
    finally:
        world.forget_model()


def serve(world: World, token: Any) -> int:
    """A rank other than 0: train each job rank 0 sends until it says the run is over. Returns the exit code.

    Quiet unless something goes wrong on this rank: then one line naming the rank.
    """
    while True:
        try:
            message = world.receive()
        except PeerLost:
            return PEER_EXIT
        kind = message.get("kind")
        if kind == "done":
            return 0
        if kind != "fit":
            print(f"error: process {world.rank}: unknown message {kind!r} from process 0", file=sys.stderr)
            return 1
        try:
            _run_job(world, message, token)
        except AgreedError:
            continue  # rank 0 failed the same way and reports it; stay for the next job or the end
        except BaseException as exc:  # noqa: BLE001 - one line, never a traceback
            if is_peer_error(exc):
                return PEER_EXIT
            if isinstance(exc, KeyboardInterrupt):
                return 130
            text = " ".join(str(exc).split())[:300]
            kind_text = "" if isinstance(exc, UserError) else f"internal error: {type(exc).__name__}: "
            print(f"error: process {world.rank}: {kind_text}{text}", file=sys.stderr, flush=True)
            return 1
