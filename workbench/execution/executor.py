"""Runs a pipeline (or what a target needs) in topological order, in whatever thread calls it.

Outputs are cached by fingerprint (type + version + params + input fingerprints + a stamp of every file the
node reads), so editing one parameter re-runs exactly the nodes downstream of it. A failing node ends with a
one-line message (traceback in the run log); its downstream is skipped while independent branches still run.

A cache entry is only trusted while its key still describes what made it: files are stamped where the node
will read them (``paths.resolve_input``, the node's own resolver) with a content hash for small files; a file
that changed while the node ran is not cached; a node fed by an output that is not cached itself (a node
that opts out, or one whose file changed mid-run) is neither looked up nor stored; an entry whose recorded
files (artifacts) are gone is run again.
"""

from __future__ import annotations

import hashlib
import json
import time
import traceback
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench import events as E
from workbench import paths, ports
from workbench.errors import RunCancelled, UserError
from workbench.execution.context import CancelToken, NodeContext, RunContext
from workbench.execution.rundir import RunFolder
from workbench.graph import Pipeline
from workbench.params import ParamError
from workbench.params import Path as PathParam
from workbench.paths import describe_os_error
from workbench.registry import NodeRegistry


class OutputCache:
    """Node outputs by fingerprint, least recently used dropped first."""

    def __init__(self, max_entries: int = 64) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def get(self, key: str) -> dict[str, Any] | None:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: str, outputs: dict[str, Any]) -> None:
        self._items[key] = outputs
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def clear(self) -> None:
        self._items.clear()


@dataclass
class NodeResult:
    node_id: str
    type: str
    state: str = E.QUEUED
    message: str = ""
    seconds: float = 0.0
    fingerprint: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "state": self.state,
            "seconds": round(self.seconds, 4),
            "message": self.message,
        }


@dataclass
class RunResult:
    run_id: str
    status: str  # ok | failed | stopped
    seconds: float
    nodes: dict[str, NodeResult]
    artifacts: dict[str, str]
    run_dir: Path | None
    log: list[str]
    record_errors: list[str] = field(default_factory=list)  # run-folder files that could not be written
    curves: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # per-epoch figures per node
    recorded_s: float | None = None  # time spent adding the run to the run history (None: not recorded)

    def outputs(self, node_id: str) -> dict[str, Any]:
        return self.nodes[node_id].outputs

    def output(self, node_id: str, port: str | None = None) -> Any:
        outputs = self.nodes[node_id].outputs
        if port is None:
            if len(outputs) != 1:
                raise KeyError(f"node {node_id!r} has outputs {sorted(outputs)}; name one")
            return next(iter(outputs.values()))
        return outputs[port]

    @property
    def failures(self) -> dict[str, str]:
        return {n: r.message for n, r in self.nodes.items() if r.state == E.FAILED}

    def report(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "nodes": {n: r.to_json() for n, r in self.nodes.items()},
            "metrics": {n: _jsonable(r.metrics) for n, r in self.nodes.items() if r.metrics},
            "artifacts": dict(self.artifacts),
            "run_dir": str(self.run_dir) if self.run_dir else None,
            **({"record_errors": list(self.record_errors)} if self.record_errors else {}),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    try:
        return float(value)  # numpy / torch scalars
    except (TypeError, ValueError):
        return str(value)


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()[:24]


class Executor:
    """Holds the output cache between runs (the GUI keeps one per document; the CLI one per process)."""

    def __init__(
        self,
        registry: NodeRegistry | None = None,
        cache: OutputCache | None = None,
        history: bool | Path = True,
    ) -> None:
        self.registry = registry
        self.cache = cache if cache is not None else OutputCache()
        self.last_fingerprints: dict[str, str] = {}
        # Every run with a folder is added to the run history (workbench/experiments/store.py); a Path names
        # another store file, False turns it off.
        self.history = history

    # -- fingerprints
    def fingerprints(
        self, pipeline: Pipeline, targets: Iterable[str] | None = None, base_dir: Path | None = None
    ) -> dict[str, str]:
        """The cache key of every node in scope; a node whose params are invalid gets ''."""
        return self._fingerprints(pipeline, targets, base_dir)[0]

    def _fingerprints(
        self, pipeline: Pipeline, targets: Iterable[str] | None, base_dir: Path | None
    ) -> tuple[dict[str, str], dict[str, str | None]]:
        """Cache keys, and per node the part of its key that stamps the files it reads (checked again after
        the node ran, to catch a file edited while it was being read); None where that failed."""
        registry = self.registry or pipeline.registry
        base = _base_dir(pipeline, base_dir)
        result: dict[str, str] = {}
        reads: dict[str, str | None] = {}
        for node_id in pipeline.topological_order(targets):
            node = pipeline.node(node_id)
            if node.unknown:
                result[node_id] = ""
                continue
            node_type = registry.get(node.type)
            try:
                params = pipeline.resolved_params(node_id)
            except ParamError:
                result[node_id] = ""
                continue
            upstream = sorted(
                f"{port}<-{result.get(link.source, '')}:{link.source_port}"
                for port, link in pipeline.input_links(node_id).items()
            )
            read = reads[node_id] = _files_read(node_type, params, base)
            result[node_id] = _digest(
                node_type.spec.type_id,
                str(node_type.spec.version),
                json.dumps(params, sort_keys=True, default=str),
                *upstream,
                read if read is not None else f"unfingerprintable:{time.time()}",
            )
        return result, reads

    def cached_nodes(self, pipeline: Pipeline) -> set[str]:
        """Nodes whose current outputs are in the cache (the GUI shows the others as stale)."""
        try:
            prints = self.fingerprints(pipeline)
        except Exception:  # noqa: BLE001
            return set()
        return {n for n, fp in prints.items() if fp and fp in self.cache}

    # -- running
    def run(
        self,
        pipeline: Pipeline,
        targets: Iterable[str] | None = None,
        reporter: E.Reporter = E.null_reporter,
        token: CancelToken | None = None,
        device: str = "auto",
        base_dir: Path | None = None,
        write_run_folder: bool = True,
        use_cache: bool = True,
        labels: Mapping[str, Any] | None = None,
    ) -> RunResult:
        """Run ``targets`` (default: everything). ``labels`` (e.g. the sweep and trial) go into the manifest
        and the run history."""
        started = time.perf_counter()
        registry = self.registry or pipeline.registry
        base = _base_dir(pipeline, base_dir)
        folder = RunFolder.create(pipeline) if write_run_folder else None
        ctx = RunContext(
            reporter=reporter,
            token=token or CancelToken(),
            device=device,
            run_dir=folder.path if folder else None,
            base_dir=base,
        )
        run_id = folder.run_id if folder else time.strftime("%Y%m%d-%H%M%S")
        targets = list(targets) if targets is not None else None
        order = pipeline.topological_order(targets)
        fingerprints, reads = self._fingerprints(pipeline, targets, base)
        self.last_fingerprints.update(fingerprints)
        problems = pipeline.problems(order)
        results = {
            n: NodeResult(n, pipeline.node(n).type, fingerprint=fingerprints.get(n, "")) for n in order
        }
        artifacts: dict[str, str] = {}
        ctx.emit(E.RunStarted(run_id, tuple(order), str(folder.path) if folder else ""))
        for node_id in order:
            ctx.emit(E.NodeStateChanged(node_id, E.QUEUED))
        stopped = False
        curves: dict[str, list[dict[str, Any]]] = {}
        trusted: set[str] = set()  # nodes whose outputs are what their fingerprint says (cached or stored)

        for node_id in order:
            result = results[node_id]
            if stopped or ctx.token.cancelled:
                stopped = True
                self._finish(ctx, result, E.SKIPPED, "not run: the run was stopped")
                continue
            ctx.token.wait_if_paused()
            if node_id in problems:
                self._finish(ctx, result, E.FAILED, "; ".join(problems[node_id]))
                continue
            inputs: dict[str, Any] = {}
            blocked = ""
            for port, link in pipeline.input_links(node_id).items():
                upstream = results.get(link.source)
                if upstream is None or upstream.state not in (E.DONE, E.CACHED):
                    blocked = (
                        f"not run: input {port!r} from {link.source!r} is missing (that node did not finish)"
                    )
                    break
                if link.source_port not in upstream.outputs:
                    blocked = f"not run: {link.source!r} produced no {link.source_port!r}"
                    break
                inputs[port] = upstream.outputs[link.source_port]
            if blocked:
                self._finish(ctx, result, E.SKIPPED, blocked)
                continue
            node_type = registry.get(pipeline.node(node_id).type)
            fingerprint = result.fingerprint
            fed_by_trusted = all(link.source in trusted for link in pipeline.input_links(node_id).values())
            cacheable = (
                use_cache
                and node_type.spec.cacheable
                and bool(fingerprint)
                and reads.get(node_id) is not None
                and fed_by_trusted
            )
            if cacheable and (cached := self._lookup(ctx, node_id, fingerprint)) is not None:
                result.outputs = cached["outputs"]
                result.metrics = cached["metrics"]
                artifacts.update(cached["artifacts"])
                trusted.add(node_id)
                self._finish(ctx, result, E.CACHED, "reused from an earlier run")
                continue
            self._run_node(ctx, pipeline, node_type, result, inputs, artifacts, curves)
            if result.state == E.STOPPED:
                stopped = True
            elif result.state == E.DONE and cacheable:
                if _files_read(node_type, pipeline.resolved_params(node_id), base) != reads.get(node_id):
                    ctx.emit(
                        E.LogRecord("warning", "a file it reads changed during the run; not cached", node_id)
                    )
                    continue
                node_artifacts = {k: v for k, v in artifacts.items() if k.startswith(f"{node_id}.")}
                self.cache.put(
                    fingerprint,
                    {"outputs": result.outputs, "metrics": result.metrics, "artifacts": node_artifacts},
                )
                trusted.add(node_id)

        states = {r.state for r in results.values()}
        status = "stopped" if stopped else ("failed" if E.FAILED in states else "ok")
        run = RunResult(
            run_id,
            status,
            time.perf_counter() - started,
            results,
            artifacts,
            folder.path if folder else None,
            ctx.log_lines,
            curves={n: c for n, c in curves.items() if c},
        )
        if folder:
            for problem in folder.finish(run, pipeline, fingerprints, device, dict(labels or {})):
                ctx.emit(E.LogRecord("error", problem))
            self._record(ctx, run, folder, registry)
        ctx.reporter(E.RunFinished(run_id, status, run.seconds, run.report()))
        return run

    def _record(self, ctx: RunContext, run: RunResult, folder: RunFolder, registry: NodeRegistry) -> None:
        """Add the run to the run history. Never fails the run: a store problem is one warning line, and
        ``workbench runs reindex`` adds the run later from its folder."""
        if self.history is False or run.record_errors:
            return
        try:
            from workbench.experiments.store import record_run

            store_path = self.history if isinstance(self.history, Path) else None
            run.recorded_s = record_run(
                folder.path,
                run.report(),
                folder.manifest,
                folder.pipeline_json,
                run.curves,
                registry,
                store_path,
            )
        except Exception as exc:  # noqa: BLE001 - the run itself succeeded; its folder has everything
            ctx.emit(
                E.LogRecord(
                    "warning",
                    f"run history: this run was not recorded ({type(exc).__name__}: {_one_line(str(exc))}); "
                    "'workbench runs reindex' adds it from its folder",
                )
            )

    def _lookup(self, ctx: RunContext, node_id: str, fingerprint: str) -> dict[str, Any] | None:
        """The cache entry for ``fingerprint``, unless a file it recorded writing is gone (then run again)."""
        cached = self.cache.get(fingerprint)
        if cached is None:
            return None
        gone = [p for p in cached["artifacts"].values() if not Path(p).exists()]
        if gone:
            ctx.emit(E.LogRecord("info", f"{gone[0]} is gone; running again", node_id))
            return None
        return cached

    def _finish(self, ctx: RunContext, result: NodeResult, state: str, message: str = "") -> None:
        result.state, result.message = state, message
        ctx.emit(E.NodeStateChanged(result.node_id, state, message, result.seconds))
        if state == E.FAILED:
            ctx.emit(E.LogRecord("error", message, result.node_id))

    def _run_node(
        self,
        ctx: RunContext,
        pipeline: Pipeline,
        node_type: Any,
        result: NodeResult,
        inputs: dict[str, Any],
        artifacts: dict[str, str],
        curves: dict[str, list[dict[str, Any]]],
    ) -> None:
        node_id = result.node_id
        node_ctx = NodeContext(ctx, node_id, result.fingerprint)
        ctx.emit(E.NodeStateChanged(node_id, E.RUNNING))
        began = time.perf_counter()
        final_metrics: dict[str, Any] = {}
        previous_reporter = ctx.reporter

        curve = curves.setdefault(node_id, [])
        curve.clear()

        def capture(event: E.Event) -> None:
            if isinstance(event, E.MetricsLogged) and event.node_id == node_id:
                if event.kind == "final":
                    final_metrics.update(event.values)
                elif event.kind == "epoch":
                    curve.append({"epoch": event.step, **_jsonable(dict(event.values))})
            previous_reporter(event)

        ctx.reporter = capture
        try:
            params = pipeline.resolved_params(node_id)
            outputs = node_type().run(node_ctx, inputs, params) or {}
            missing = [p.name for p in node_type.spec.outputs if not p.optional and p.name not in outputs]
            if missing:
                raise RuntimeError(f"node produced no {', '.join(missing)}")
            for port in node_type.spec.outputs:  # a value of another type than the port declares: one line
                if port.name in outputs:
                    ports.check_output(node_id, port.name, port.type, outputs[port.name], port.optional)
            result.outputs = dict(outputs)
            result.metrics = final_metrics or _metrics_from_outputs(outputs)
            for name, path in node_ctx.artifacts.items():
                artifacts[f"{node_id}.{name}"] = str(path)
            state = E.STOPPED if ctx.token.cancelled else E.DONE
            message = "stopped by the user; outputs kept" if state == E.STOPPED else ""
        except RunCancelled:
            state, message = E.STOPPED, "stopped by the user"
        except (UserError, ParamError) as exc:
            state, message = E.FAILED, _one_line(str(exc))
        except OSError as exc:  # a file the node reads or writes: name it and say what to do
            state, message = E.FAILED, _one_line(describe_os_error(exc, action="access"))
            ctx.emit(E.LogRecord("debug", traceback.format_exc(), node_id))
        except Exception as exc:  # noqa: BLE001 - any node bug becomes a message, never a crash
            state = E.FAILED
            message = f"internal error: {type(exc).__name__}: {_one_line(str(exc))} (details in the run log)"
            ctx.emit(E.LogRecord("debug", traceback.format_exc(), node_id))
        finally:
            ctx.reporter = previous_reporter
        result.seconds = time.perf_counter() - began
        self._finish(ctx, result, state, message)


def _base_dir(pipeline: Pipeline, base_dir: Path | None) -> Path | None:
    """The folder relative paths start from: the pipeline file's (None while unsaved: the current folder)."""
    if base_dir is not None:
        return base_dir
    return pipeline.path.parent if pipeline.path else None


def _files_read(node_type: Any, params: Mapping[str, Any], base: Path | None) -> str | None:
    """Cache-key material for the files a node reads, found exactly where the node will look.

    Every ``Path`` parameter with ``mode="open"`` is stamped (size, mtime, content hash of small files), so a
    node (or a plugin) needs no code of its own for it; ``fingerprint_extra`` adds anything more (the other
    files of a bundle). A file that is not there stamps as missing: the node then fails and nothing is cached.
    None when ``fingerprint_extra`` failed: the node then runs every time and is never cached.
    """
    resolve = lambda value: paths.resolve_input(value, base)  # noqa: E731
    parts = []
    for param in node_type.spec.params:
        value = params.get(param.name)
        if isinstance(param, PathParam) and param.mode == "open" and value:
            try:
                found = resolve(value)
                parts.append(f"{param.name}={found}:{paths.file_stamp(found)}")
            except (UserError, OSError) as exc:
                parts.append(f"{param.name}=unreadable:{type(exc).__name__}")
    try:
        parts.append(node_type().fingerprint_extra(params, resolve))
    except Exception:  # noqa: BLE001 - a fingerprint must never break a run
        return None
    return "\n".join(parts)


def _one_line(text: str) -> str:
    line = " ".join(text.strip().split())
    return line if len(line) <= 400 else line[:397] + "..."


def _metrics_from_outputs(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """Figures that outputs carry themselves (a trained model's metrics, a report's: ``ports.metrics_of``)."""
    found: dict[str, Any] = {}
    for value in outputs.values():
        metrics = ports.metrics_of(value)
        found.update({k: v for k, v in metrics.items() if isinstance(v, int | float | str | bool)})
    return found


def run(
    pipeline: Pipeline,
    targets: Iterable[str] | None = None,
    reporter: E.Reporter = E.null_reporter,
    device: str = "auto",
    **kwargs: Any,
) -> RunResult:
    """Run ``pipeline`` once with a fresh executor (scripts and tests)."""
    return Executor().run(pipeline, targets, reporter=reporter, device=device, **kwargs)
