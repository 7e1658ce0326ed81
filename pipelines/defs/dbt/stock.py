"""dbt as dagster-dbt runs it: a ``dbt`` subprocess per op (``DbtCliResource``), public APIs only.

Selected by ``KRX_INTERNALS=stock``: the fallback when an upgrade breaks the in-process runner
(``runner.py``). About 8 s slower per op (the subprocess imports dbt and loads its partial
parse each time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliInvocation, DbtCliResource


@dataclass
class StockInvocation:
    """A finished ``DbtCliInvocation`` with the interface of ``runner.DbtInvocation``."""

    invocation: DbtCliInvocation
    events: list[Any]
    failure: BaseException | None

    @property
    def manifest(self) -> dict[str, Any]:
        return dict(self.invocation.manifest)

    @property
    def target_path(self) -> Path:
        return self.invocation.target_path

    def dagster_events(self, _context: dg.AssetExecutionContext | None) -> list[Any]:
        return self.events

    def error(self) -> BaseException | None:
        return self.failure or self.invocation.get_error()


class StockDbt(DbtCliResource):
    """``DbtCliResource`` whose ``invoke`` takes the in-process runner's arguments."""

    def invoke(
        self,
        args: Sequence[str],
        *,
        context: dg.AssetExecutionContext,
        target_path: Path,
        parse_target: Path,
        dagster_dbt_translator: DagsterDbtTranslator,
    ) -> StockInvocation:
        """Run ``dbt <args>`` on the op's selection; artifacts and log in ``target_path`` (each
        subprocess parses on its own, so ``parse_target`` is not used)."""
        del parse_target
        invocation = self.cli(
            list(args),
            context=context,
            target_path=target_path,
            dagster_dbt_translator=dagster_dbt_translator,
            raise_on_error=False,
        )
        events: list[Any] = []
        failure: BaseException | None = None
        try:
            for event in invocation.stream():
                events.append(event)
        except Exception as exc:  # dbt exited non-zero; what it did is reported first
            failure = exc
        return StockInvocation(invocation, events, failure)
