"""dbt Core inside the op's own process.

A ``dbt build`` subprocess spends about 8 s before its first SQL statement (imports, loading the
partial parse) and a run starts three of them. Here the project is parsed once per process and
warehouse, and every op is one ``dbtRunner`` invocation on that manifest (dbt's documented
programmatic invocation, "reusing objects"). dbt's result events become Dagster events through
dagster-dbt's own conversion, the one its CLI resource applies to the subprocess's JSON log.

The private APIs this takes come from ``pipelines.pinned``; ``KRX_INTERNALS=stock`` runs dbt as
dagster-dbt's subprocess instead (``stock.py``).
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtCliRuntimeError, DagsterDbtTranslator

from pipelines import settings
from pipelines.faults import failpoint
from pipelines.pinned import (
    DagsterExecutionInterruptedError,
    DbtCoreCliEventMessage,
    get_updated_cli_invocation_params_for_context,
    raise_interrupts_as,
    release_duckdb,
)

#: dbt's events for a finished node, the ones dagster-dbt turns into Dagster events.
RESULT_EVENTS = frozenset({"LogSeedResult", "LogModelResult", "LogSnapshotResult", "LogTestResult"})


@dataclass
class DbtInvocation:
    """What one in-process dbt command did: dbt's result events (as in its JSON log), its error
    messages, and the manifest and translator the Dagster events are built with."""

    args: list[str]
    target_path: Path
    manifest: dict[str, Any]
    translator: DagsterDbtTranslator
    results: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    success: bool = False
    exception: BaseException | None = None

    def collect(self, msg: Any) -> None:
        """dbtRunner callback: keep node results and error messages (and pass the failpoints
        ``dbt-start:<node>`` and ``dbt-done:<node>``, ``pipelines.faults``)."""
        if msg.info.name == "NodeStart":
            failpoint(f"dbt-start:{msg.data.node_info.unique_id}")
        if msg.info.name in RESULT_EVENTS:
            failpoint(f"dbt-done:{msg.data.node_info.unique_id}")
            from dbt_common.events.functions import msg_to_dict

            self.results.append(msg_to_dict(msg))
        elif msg.info.level == "error":
            self.errors.append(msg.info.msg)

    def dagster_events(self, context: dg.AssetExecutionContext | None) -> list[Any]:
        """The Dagster events of the results: outputs (or materializations) of models and
        seeds, and check results of tests."""
        events: list[Any] = []
        for raw in self.results:
            message = DbtCoreCliEventMessage(raw_event=raw, event_history_metadata={})
            events.extend(
                message.to_default_asset_events(
                    manifest=self.manifest,
                    dagster_dbt_translator=self.translator,
                    context=context,
                    target_path=self.target_path,
                )
            )
        return events

    def error(self) -> DagsterDbtCliRuntimeError | None:
        """The failure of an unsuccessful command, naming dbt's errors and its log."""
        if self.success:
            return None
        failed = self.failed_nodes()
        what = f"{', '.join(failed)} failed" if failed else "failed"
        lines = [f"dbt {self.args[0]}: {what} (each failed test is a failed check with its rows)"]
        if self.exception is not None:
            lines.append(f"{type(self.exception).__name__}: {self.exception}")
        if self.errors:
            lines += ["Errors from dbt:", *self.errors]
        lines.append(f"dbt's log: {self.target_path / 'dbt.log'}")
        return DagsterDbtCliRuntimeError(description="\n".join(lines))

    def failed_nodes(self) -> list[str]:
        """Names of the nodes whose result is an error or a failure."""
        names = []
        for raw in self.results:
            data = raw.get("data", {})
            node = data.get("node_info", {})
            if data.get("status") in ("error", "fail") or node.get("node_status") in (
                "error",
                "fail",
            ):
                names.append(node.get("node_name") or node.get("unique_id", "?"))
        return names


#: Parsed manifests by (project folder, profiles folder, warehouse file).
_MANIFESTS: dict[tuple[str, str, str], Any] = {}


class _Interrupts:
    """The interrupts (Ctrl-C, a run terminated in the UI) of one dbt invocation.

    Each is raised as the ``KeyboardInterrupt`` dbt handles: dbt cancels the queries its threads
    run and stops. DuckDB turns one that lands in a query of dbt's own thread (the relation
    cache, a hook) into a "Query interrupted" error, after which dbt would go on building; the
    next event that thread fires raises it again."""

    def __init__(self) -> None:
        self.received = False
        self._undelivered = False

    def handle(self, _signo: int, _frame: Any) -> None:
        """Signal handler."""
        self.received = self._undelivered = True
        raise KeyboardInterrupt

    def on_event(self, _msg: Any) -> None:
        """dbtRunner callback."""
        if self._undelivered and threading.current_thread() is threading.main_thread():
            self._undelivered = False
            if not isinstance(sys.exception(), KeyboardInterrupt):  # dbt is not handling it
                raise KeyboardInterrupt

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Within this block, SIGINT and SIGTERM (which Dagster maps to it) go to ``handle``; an
        interrupt Dagster received before is raised at once, as Dagster's own."""
        with raise_interrupts_as(DagsterExecutionInterruptedError):
            if threading.current_thread() is not threading.main_thread():
                yield  # signals reach the main thread only
                return
            signals = (signal.SIGINT, signal.SIGTERM)
            previous = {signo: signal.signal(signo, self.handle) for signo in signals}
            try:
                yield
            finally:
                for signo, handler in previous.items():
                    signal.signal(signo, handler)


def invoke_dbt(args: Sequence[str], *, manifest: Any = None, callbacks: Sequence = ()) -> Any:
    """One ``dbtRunner`` invocation (on ``manifest`` when given, else parsing the project);
    dbt's handle on the warehouse is closed afterwards, however it ends. An interrupt stops dbt
    (see ``_Interrupts``) and is then raised again as Dagster's own."""
    from dbt.cli.main import dbtRunner

    interrupts = _Interrupts()
    try:
        with interrupts.installed():
            runner = dbtRunner(manifest=manifest, callbacks=[*callbacks, interrupts.on_event])
            result = runner.invoke(list(args))
    except KeyboardInterrupt:  # raised by ``handle`` just outside ``invoke``
        interrupts.received = True
    finally:
        release_duckdb()
    if interrupts.received:
        raise DagsterExecutionInterruptedError("dbt was interrupted")
    return result


class DbtCore(dg.ConfigurableResource):
    """dbt Core run inside the op's process, the project parsed once per process and warehouse
    (from the partial parse a previous process left in the parse folder)."""

    project_dir: str
    profiles_dir: str

    def _folders(self, project_dir: str) -> list[str]:
        return ["--project-dir", project_dir, "--profiles-dir", self.profiles_dir]

    def manifest(self, project_dir: str, parse_target: Path) -> Any:
        """dbt's manifest of ``project_dir`` for the current warehouse, parsed on first use
        (from the partial parse in ``parse_target`` when there is one)."""
        key = (project_dir, self.profiles_dir, str(settings.duckdb_path()))
        if key not in _MANIFESTS:
            args = ["parse", "--quiet", "--no-write-json", *self._folders(project_dir)]
            args += ["--target-path", str(parse_target), "--log-path", str(parse_target)]
            result = invoke_dbt(args)
            if not result.success:
                raise DagsterDbtCliRuntimeError(
                    description=f"dbt parse failed: {result.exception} "
                    f"(dbt's log: {parse_target / 'dbt.log'})"
                )
            _MANIFESTS[key] = result.result
        return _MANIFESTS[key]

    def invoke(
        self,
        args: Sequence[str],
        *,
        context: dg.AssetExecutionContext,
        target_path: Path,
        parse_target: Path,
        dagster_dbt_translator: DagsterDbtTranslator,
    ) -> DbtInvocation:
        """Run ``dbt <args>`` on the op's selection, artifacts and log in ``target_path``.

        dbt's ``manifest.json`` is not written (0.3-0.5 s a write, here and in the parse;
        nothing reads it: the assets are built from the project's own), ``run_results.json``
        is."""
        params = get_updated_cli_invocation_params_for_context(
            context=context, manifest={}, dagster_dbt_translator=dagster_dbt_translator
        )
        # a subset of more than 200 nodes becomes a selector file in a temporary copy of the
        # project (dagster-dbt), which is then the project to parse and run
        project = params.dbt_project
        project_dir = str(project.project_dir) if project else self.project_dir
        manifest = self.manifest(project_dir, parse_target)
        full_args = [*args, *params.selection_args, *self._folders(project_dir)]
        full_args += ["--target-path", str(target_path), "--log-path", str(target_path)]
        full_args += ["--no-write-json"]
        if params.indirect_selection:
            full_args += ["--indirect-selection", params.indirect_selection]
        invocation = DbtInvocation(
            args=full_args,
            target_path=target_path,
            manifest=dict(params.manifest),
            translator=params.dagster_dbt_translator,
        )
        result = invoke_dbt(full_args, manifest=manifest, callbacks=[invocation.collect])
        invocation.success = result.success
        invocation.exception = result.exception
        if hasattr(result.result, "write"):
            result.result.write(str(target_path / "run_results.json"))
        return invocation
