"""Fault injection for the crash tests.

``KRX_FAILPOINT=<name>`` kills the process with SIGKILL when it first reaches the named point,
as a power cut or the OOM killer would; ``<name>@<n>`` at its n-th time. ``...:enospc`` and
``...:erofs`` raise the ``OSError`` a full disk or a read-only file system gives a write call
instead (at the points placed right after a write). ``KRX_FAILPOINT_TRACE=<file>`` appends every
point reached, as ``<name>@<n>``, to the file: the list the crash tests draw from.
"""

import errno
import os
import signal
from collections import Counter

from pipelines import settings

#: The errors a point can raise instead of killing the process.
ERRORS = {"enospc": errno.ENOSPC, "erofs": errno.EROFS}

_reached: Counter[str] = Counter()


def failpoint(name: str, path: object = None) -> None:
    """Kill the process, or raise a write error about ``path``, if ``KRX_FAILPOINT`` names this
    point (and this time it is reached)."""
    chosen, trace = settings.value(settings.FAILPOINT_ENV), settings.value(settings.TRACE_ENV)
    if chosen is None and trace is None:
        return
    _reached[name] += 1
    point = f"{name}@{_reached[name]}"
    if trace is not None:
        with open(trace, "a", encoding="utf-8") as handle:
            handle.write(point + "\n")
    if chosen is None:
        return
    target, _, action = chosen.rpartition(":")
    if action not in ERRORS:  # names hold colons too: "dbt-done:<node>"
        target, action = chosen, ""
    if target not in (name, point) or (target == name and _reached[name] > 1):
        return
    if action in ERRORS:
        code = ERRORS[action]
        raise OSError(code, os.strerror(code), None if path is None else str(path))
    os.kill(os.getpid(), signal.SIGKILL)
