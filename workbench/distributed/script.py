"""Hand a pipeline to a bigger machine: a folder with the pipeline, pinned requirements and a torchrun script.

Used by the app's File → Export run script… (and by anyone scripting the core). The folder holds:

- ``pipeline.json`` — the pipeline as it is now, with the files it reads as absolute paths (copy the data
  to the same place, or edit the paths; the script checks they exist before starting);
- ``requirements.txt`` — the libraries the headless run needs, pinned to the versions in use here;
- ``run.sh`` — ``torchrun`` on one machine or several (``NNODES``/``NPROC``/``RDZV``), see docs/scaling.md;
- ``README.md`` — the three commands to run it.
"""

from __future__ import annotations

import json
import shlex
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from workbench import paths
from workbench._version import __version__
from workbench.errors import UserError

GUI_ONLY = ("pyside6", "pyside6-essentials", "pyqtgraph", "shiboken6")


def _requirement_names() -> list[str]:
    """The core's runtime dependencies (the source tree's pyproject when there is one, else the installed
    metadata), without the desktop-only ones."""
    names: list[str] = []
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    if pyproject.is_file():
        import tomllib

        try:
            names = list(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"])
        except (OSError, KeyError, ValueError):
            names = []
    if not names:
        try:
            names = [r for r in metadata.requires("model-workbench") or [] if "extra ==" not in r]
        except metadata.PackageNotFoundError:
            names = []
    out = []
    for requirement in names:
        name = requirement.split(";")[0].strip()
        for sep in ("[", ">", "<", "=", "!", "~", " "):
            name = name.split(sep)[0]
        if name and name.lower() not in GUI_ONLY and name not in out:
            out.append(name)
    return out


def requirements_text() -> str:
    """``name==version`` for every runtime dependency installed here."""
    lines = [
        f"# Written by Model Workbench {__version__} on {time.strftime('%Y-%m-%d')}: the versions this pipeline ran with.",
        f"# Install Model Workbench {__version__} itself the same way you installed it here (a wheel or its source).",
    ]
    for name in _requirement_names():
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        if name == "torch" and "+" in version:
            local = version
            version = version.split("+")[0]
            lines.append(
                f"# torch: this machine has the {local} build; on GPU nodes install the CUDA build of {version} "
                "(https://pytorch.org/get-started/locally/)"
            )
        lines.append(f"{name}=={version}")
    return "\n".join(lines) + "\n"


def _absolute_inputs(pipeline: Any) -> tuple[dict[str, Any], list[str], list[str]]:
    """The pipeline's JSON with every file it reads as an absolute path; those files; the ones not found."""
    from workbench.params import Path as PathParam

    doc = pipeline.to_json()
    base = pipeline.path.parent if pipeline.path else None
    found, missing = [], []
    for node in doc["nodes"]:
        spec = pipeline.spec(node["id"])
        if spec is None:
            continue
        for param in spec.params:
            value = node.get("params", {}).get(param.name)
            if not isinstance(param, PathParam) or param.mode != "open" or not value:
                continue
            try:
                where = paths.resolve_input(value, base).resolve()
            except UserError:
                missing.append(f"{node['id']}.{param.name} = {value}")
                continue
            if where.is_relative_to(paths.resources_dir().resolve()):
                continue  # a bundled example file: found the same way wherever the app is installed
            node["params"][param.name] = str(where)
            found.append(str(where))
    return doc, sorted(set(found)), missing


def run_script(data_files: list[str], nproc: int, device: str) -> str:
    checks = "\n".join(
        f'[ -e {shlex.quote(p)} ] || {{ echo "run.sh: data not found: {p} (copy it there or edit pipeline.json)" >&2; exit 1; }}'
        for p in data_files
    )
    return f"""#!/usr/bin/env bash
# Train this pipeline with torch.distributed — written by Model Workbench {__version__}.
#   One machine:        ./run.sh                       (NPROC processes: one per GPU, or CPU processes)
#   Several machines:   NNODES=2 NPROC=4 RDZV=head-node:29400 RUN_ID=run-1 ./run.sh   (the same on every node)
#   Slurm (one task per node):
#     srun env NNODES=$SLURM_NNODES RDZV=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1):29400 \\
#       RUN_ID=$SLURM_JOB_ID ./run.sh
# Extra arguments go to 'workbench run' (e.g. --set train.epochs=50). See docs/scaling.md.
set -euo pipefail
cd "$(dirname "$0")"
NNODES="${{NNODES:-1}}"
NPROC="${{NPROC:-{nproc}}}"
DEVICE="${{DEVICE:-{device}}}"
{checks}
if [ "$NNODES" = "1" ]; then
  exec torchrun --standalone --nproc-per-node "$NPROC" \\
    -m workbench run pipeline.json --device "$DEVICE" --report report.json "$@"
fi
: "${{RDZV:?set RDZV=host:port, a node every node can reach}}"
: "${{RUN_ID:?set RUN_ID to the same string on every node}}"
exec torchrun --nnodes "$NNODES" --nproc-per-node "$NPROC" \\
  --rdzv-backend c10d --rdzv-endpoint "$RDZV" --rdzv-id "$RUN_ID" \\
  -m workbench run pipeline.json --device "$DEVICE" --report report.json "$@"
"""


def _readme(name: str, nproc: int) -> str:
    return f"""# {name}: run it on a bigger machine

Written by Model Workbench {__version__}.

```sh
python -m venv .venv && . .venv/bin/activate
pip install -r requirements.txt        # and Model Workbench {__version__} itself
./run.sh                                # {nproc} processes on this machine (NPROC=… to change)
```

Several machines: `NNODES=2 NPROC=4 RDZV=head-node:29400 RUN_ID=run-1 ./run.sh` on every node.
The report is written to `report.json`; the run folder and the export as the pipeline says.
"""


def default_nproc() -> int:
    """One process per GPU here, else 2 CPU processes (a starting point; NPROC overrides it)."""
    try:
        import torch

        if torch.cuda.is_available() and torch.cuda.device_count() > 0:
            return int(torch.cuda.device_count())
    except Exception:  # noqa: BLE001 - the script is still useful without a count
        pass
    return 2


def write_run_script(
    pipeline: Any, folder: str | Path, nproc: int = 0, device: str = "auto"
) -> dict[str, Any]:
    """Write the folder (new or empty, never anything else); returns its files and the inputs not found."""
    from workbench.files import atomic_write_text

    folder = Path(folder).expanduser()
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise UserError(f"{folder}: choose a new or empty folder for the run script (this one holds files)")
    folder.mkdir(parents=True, exist_ok=True)
    nproc = nproc or default_nproc()
    doc, data_files, missing = _absolute_inputs(pipeline)
    name = pipeline.path.name.split(".")[0] if pipeline.path else "pipeline"
    files = {
        "pipeline.json": json.dumps(doc, indent=2, ensure_ascii=False) + "\n",
        "requirements.txt": requirements_text(),
        "run.sh": run_script(data_files, nproc, device),
        "README.md": _readme(name, nproc),
    }
    written = []
    for file_name, text in files.items():
        target = folder / file_name
        atomic_write_text(target, text)
        written.append(target)
    (folder / "run.sh").chmod(0o755)
    return {"folder": folder, "files": written, "missing": missing, "nproc": nproc}
