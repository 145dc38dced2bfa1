"""Faults inside training end in one clear line: the CPU allocator running out of memory, a full disk under
the checkpoints; and a stop by the user keeps a checkpoint to resume from."""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import subprocess
from pathlib import Path

import pytest
import torch
from torch import nn

from workbench.engine.callbacks import Checkpointer, StopAfter
from workbench.engine.checkpoint import load_checkpoint
from workbench.engine.trainer import TrainConfig, TrainData, fit
from workbench.errors import UserError

# What torch's CPU allocator raises (copied from a real failure; the sizes do not matter).
CPU_OOM = (
    "[enforce fail at alloc_cpu.cpp:114] data. DefaultCPUAllocator: can't allocate memory: you tried to "
    "allocate 85899345920 bytes. Error code 12 (Cannot allocate memory)"
)


def data(n: int = 256) -> TrainData:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    y = (x[:, 0] > 0).long()
    return TrainData(x, y, x[:32], y[:32], "multiclass", 2)


class Greedy(nn.Module):
    """A model whose forward runs out of CPU memory above ``limit`` rows, as a big batch would."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.linear = nn.Linear(4, 2)
        self.sizes: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.sizes.append(x.shape[0])
            if x.shape[0] > self.limit:
                raise RuntimeError(CPU_OOM)
        return self.linear(x)


def small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 2))


def test_cpu_allocator_failure_counts_as_out_of_memory() -> None:
    from workbench.engine.device import is_out_of_memory

    assert is_out_of_memory(RuntimeError(CPU_OOM))
    assert is_out_of_memory(MemoryError())
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x3 and 4x2)"))


def test_cpu_out_of_memory_with_halve_continues_at_a_smaller_batch() -> None:
    model = Greedy(limit=20)
    result = fit(model, data(), TrainConfig(epochs=2, batch_size=64, on_oom="halve", threads=-1))
    assert result.metrics["batch_size"] == 16  # 64 → 32 → 16, then it fits
    assert result.metrics["epochs_run"] == 2
    assert all(r["train_loss"] is not None for r in result.history)
    assert max(model.sizes[-10:]) == 16


def test_cpu_out_of_memory_with_fail_is_the_one_line_advice() -> None:
    with pytest.raises(UserError) as caught:
        fit(Greedy(limit=20), data(), TrainConfig(epochs=2, batch_size=64, on_oom="fail", threads=-1))
    message = str(caught.value)
    assert message.startswith("out of memory on cpu at batch size 64 (epoch 1, batch 1)")
    assert "on_oom" in message and "\n" not in message


def test_other_runtime_errors_are_not_taken_for_out_of_memory() -> None:
    class Broken(Greedy):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        fit(Broken(1), data(), TrainConfig(epochs=1, batch_size=64, on_oom="halve", threads=-1))


def test_stop_by_the_user_keeps_a_checkpoint_to_resume_from(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    # 256 rows / batch 32 = 8 batches an epoch; stop in epoch 2 after its 3rd batch. every=100: no
    # periodic checkpoint would be written before the end.
    config = TrainConfig(epochs=50, batch_size=32, threads=-1)
    result = fit(small_model(), data(), config, [Checkpointer(folder, every=100), StopAfter(11)])
    assert result.stopped and result.metrics["epochs_run"] == 1
    last = load_checkpoint(folder / "last.pt")
    assert last["epoch"] == 1  # the last complete epoch: a resume repeats the partial one
    assert len(last["history"]) == 1
    for key, value in result.model.state_dict().items():
        assert torch.equal(value, last["model"][key])  # the weights so far, not the ones of epoch 1
    resumed = fit(small_model(), data(), TrainConfig(epochs=3, batch_size=32, threads=-1,
                                                     resume_from=str(folder / "last.pt")))  # fmt: skip
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]


class FullDisk:
    """``os.fdopen`` whose files take ``room`` bytes in all, then fail with ENOSPC like a full disk."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.real = os.fdopen

    def __call__(self, fd: int, mode: str = "r", *args, **kwargs):
        handle = self.real(fd, mode, *args, **kwargs)
        if "w" not in mode:
            return handle
        disk = self

        class Limited:
            def __getattr__(self, name: str):
                return getattr(handle, name)

            def write(self, chunk: bytes) -> int:
                if len(chunk) > disk.room:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                disk.room -= len(chunk)
                return handle.write(chunk)

            def __enter__(self):
                return self

            def __exit__(self, *exc) -> None:
                handle.close()

        return Limited()


def test_full_disk_while_checkpointing_is_one_line_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "ckpt"
    probe = tmp_path / "probe"
    fit(small_model(), data(), TrainConfig(epochs=1, batch_size=32, threads=-1), [Checkpointer(probe)])
    size = (probe / "epoch_0001.pt").stat().st_size
    # Room for epoch 1's two files (epoch_0001.pt and last.pt), not for epoch 2's first one.
    monkeypatch.setattr(os, "fdopen", FullDisk(room=2 * size + size // 2))
    with pytest.raises(UserError) as caught:
        fit(small_model(), data(), TrainConfig(epochs=3, batch_size=32, threads=-1), [Checkpointer(folder)])
    monkeypatch.undo()
    message = str(caught.value)
    assert message.startswith(f"checkpoint: cannot write {folder / 'epoch_0002.pt'}: No space left on device")
    assert "checkpoint_every" in message and "\n" not in message
    assert sorted(p.name for p in folder.iterdir()) == ["epoch_0001.pt", "last.pt"]  # no torn .tmp
    assert load_checkpoint(folder / "last.pt")["epoch"] == 1  # the earlier checkpoint is intact


@contextlib.contextmanager
def tiny_tmpfs(folder: Path, size: str = "64k"):
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield folder
    finally:
        gc.collect()  # a failed write's traceback may still hold a file open there
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)  # detach it all the same


def test_real_full_disk_under_the_checkpoints(tmp_path: Path) -> None:
    with tiny_tmpfs(tmp_path / "small") as folder:
        # The model and Adam's moments are ~32 KB a checkpoint: the first file fits, the second does not.
        model = nn.Sequential(nn.Linear(4, 256), nn.ReLU(), nn.Linear(256, 2))
        with pytest.raises(UserError, match="No space left on device") as caught:
            fit(model, data(), TrainConfig(epochs=2, batch_size=32, threads=-1), [Checkpointer(folder)])
        assert "\n" not in str(caught.value)
        names = [p.name for p in folder.iterdir()]
        assert not [n for n in names if n.endswith(".tmp")], names
        assert load_checkpoint(folder / "epoch_0001.pt")["epoch"] == 1  # what fitted is whole
