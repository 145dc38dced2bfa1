"""One pipeline on several processes: torch.distributed (DDP), launched by ``workbench run --nproc N``,
``torchrun … -m workbench run`` or a scheduler (``srun torchrun …``).

Rank 0 runs the pipeline as usual: it reads the data, fits the preprocessing, evaluates, exports and writes
the run folder and the report. The other ranks run no pipeline at all: they wait for rank 0 to hand them a
training job (the tensors it made, the architecture and the settings), train their shard of every epoch in
step with it (gradients all-reduced by DDP), and go back to waiting until rank 0 says the run is over.

Control messages travel as JSON through the rendezvous store, tensors through broadcasts: nothing on the
wire is unpickled. Importing this package is cheap (no torch). While a world is set, the engine's
``trainer.train`` hands each fit to every process (``jobs.install``): the engine never imports this package.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.distributed.world import World

# A rank that ends because another one failed (lost contact) exits with this code: the launcher never
# blames it for the failure.
PEER_EXIT = 3

_current: World | None = None


def launched() -> bool:
    """True in a process that torchrun (or ``--nproc``) started as one rank of several."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ
    except ValueError:
        return False


def current() -> World | None:
    """The process group this process belongs to, or None for an ordinary single-process run."""
    return _current


def set_current(world: World | None) -> None:
    """Also routes the engine's training through every process while ``world`` is set (see jobs.install)."""
    global _current
    _current = world
    from workbench.distributed.jobs import install  # torch is loaded by now: the world was made with it

    install(world)
