"""The layout of ``pipelines/``: importing it does nothing; each module sits where it is used."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pipelines"
#: Files outside Python that name modules: the code location, the entry point, the instance.
CONFIG_FILES = ("workspace.yaml", "pyproject.toml", "Makefile", "pipelines/instance/dagster.yaml")

#: Run in a fresh interpreter: import every module of ``pipelines`` while an audit hook records
#: every subprocess, file opened for writing, folder made and file moved or removed, and dbt's
#: programmatic runner records any invocation. (Dagster, pandera and polars are imported
#: first: their own import effects are not ours.)
IMPORT_EVERYTHING = r"""
import json, os, pkgutil, sys, importlib

events = []
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

def audit(event, args):
    if event == "open" and args[0] is not None and not isinstance(args[0], int):
        mode, flags = args[1] or "", args[2] or 0
        if any(c in mode for c in "wax+") or flags & WRITE_FLAGS:
            events.append(f"write {args[0]}")
    elif event in ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn"):
        events.append(f"{event} {args[0]}")
    elif event in ("os.mkdir", "os.rename", "os.replace", "os.remove", "os.rmdir"):
        events.append(f"{event} {args[0]}")

# third parties' own import effects: dagster's vendored croniter runs `file` on the interpreter,
# pandera and polars set variables of their own
import dagster, pandera.polars, polars
from dbt.cli.main import dbtRunner
def invoke(self, args, **kwargs):
    events.append(f"dbt {' '.join(args)}")
    raise RuntimeError("dbt invoked at import")
dbtRunner.invoke = invoke

before = dict(os.environ)
sys.addaudithook(audit)
import pipelines
names = sorted(
    m.name for m in pkgutil.walk_packages(pipelines.__path__, "pipelines.")
    if not m.name.endswith("__main__")
)
for name in names:
    importlib.import_module(name)
after = dict(os.environ)
changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
print(json.dumps({"modules": names, "events": events, "environ_changed": changed}))
"""


def test_importing_every_module_runs_no_dbt_writes_nothing_and_leaves_the_environment(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("KRX_", "DAGSTER_", "DBT_"))
    }
    env |= {
        "PYTHONDONTWRITEBYTECODE": "1",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),  # no XKRX calendar cached yet
        "HOME": str(tmp_path / "home"),
    }
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.splitlines()[-1])
    assert {"pipelines.defs.definitions", "pipelines.defs.assets.dbt", "pipelines.cli"} <= set(
        report["modules"]
    )
    assert report["events"] == []
    assert report["environ_changed"] == []
    assert list(tmp_path.iterdir()) == []


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(tree: ast.AST, modules: set[str]) -> set[str]:
    """The modules of ``pipelines`` an AST imports (``from pipelines.x import y`` counts
    ``pipelines.x.y`` when that is a module, else ``pipelines.x``)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in modules else node.module)
    return found & modules


def module_importers() -> dict[str, set[str]]:
    """Every module of ``pipelines`` (packages included) and who imports it: other modules of
    ``pipelines``, or the configuration files that name it."""
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    importers: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for target in _imported(ast.parse(path.read_text(encoding="utf-8")), set(files)):
            if target != name:
                importers[target].add(name)
    for config in CONFIG_FILES:
        text = (ROOT / config).read_text(encoding="utf-8")
        for target in set(re.findall(r"pipelines(?:\.\w+)+", text)) & set(files):
            importers[target].add(config)
    return importers


def packages() -> set[str]:
    return {_module_name(p) for p in PACKAGE.rglob("__init__.py")}


#: Modules at the top of ``pipelines`` with one user there, and why they stay.
SHARED_WITH_THE_TESTS = {
    # the short-sale regime calendar: the sample generator's input, and the ground truth the
    # dbt tests check ``dim_short_sale_regimes`` (a seed copied from it) against
    "pipelines.regimes",
}


def _room(name: str) -> str:
    """The top-level folder of ``pipelines`` a module sits in (``pipelines`` for the top)."""
    parts = name.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 else "pipelines"


def misplaced(importers: dict[str, set[str]], packages: set[str]) -> list[str]:
    """Modules imported by exactly one other module from outside that module's folder.

    Exempt: a package's ``__init__``; what only a configuration file names; and a room's way
    in, a module of a top-level folder (``raw``, ``validation``, ``sample``...) whose one user is
    in another room: the rooms are the data flow, and each is entered from outside."""
    out = []
    for name, users in sorted(importers.items()):
        if len(users) != 1 or name in packages:
            continue
        (user,) = users
        if user in CONFIG_FILES or (_room(name) != "pipelines" and _room(name) != _room(user)):
            continue
        home = user if user in packages else user.rpartition(".")[0]
        if not name.startswith(home + "."):
            out.append(f"{name} is imported only by {user}: move it into {home}")
    return out


def test_a_module_used_by_one_other_lives_in_that_module_s_folder():
    importers = module_importers()
    for name in SHARED_WITH_THE_TESTS:
        importers.pop(name)
    assert misplaced(importers, packages()) == []


def test_the_rule_reports_a_module_used_by_one_module_of_another_folder():
    rooms = {"pipelines", "pipelines.a", "pipelines.a.c", "pipelines.b"}
    assert misplaced({"pipelines.x": {"pipelines.b.y"}}, rooms) == [
        "pipelines.x is imported only by pipelines.b.y: move it into pipelines.b"
    ]
    assert misplaced({"pipelines.a.x": {"pipelines.a.c.y"}}, rooms) != []  # beside its user
    assert misplaced({"pipelines.a.x": {"pipelines.b.y"}}, rooms) == []  # the way into a
    assert misplaced({"pipelines.a.x": {"pipelines.a.y"}}, rooms) == []  # its own folder
    assert misplaced({"pipelines.b.y.z": {"pipelines.b.y"}}, rooms | {"pipelines.b.y"}) == []
    assert misplaced({"pipelines.a.x": {"pipelines.b.y", "pipelines.c"}}, rooms) == []
    assert misplaced({"pipelines.a.x": {"workspace.yaml"}}, rooms) == []
    # what the real tree's importers look like
    users = module_importers()
    assert users["pipelines.defs.assets.charts"] == {"pipelines.defs.assets.dbt"}
    assert users["pipelines.instance.storage"] == {"pipelines/instance/dagster.yaml"}


def test_no_module_outside_the_sample_generator_exceeds_500_lines():
    sizes = {
        str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines())
        for p in PACKAGE.rglob("*.py")
        if "sample" not in p.relative_to(PACKAGE).parts
    }
    assert {path: n for path, n in sizes.items() if n > 500} == {}
