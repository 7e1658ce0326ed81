"""Fault injection for the crash tests: ``KRX_FAILPOINT=<name>`` kills the process with SIGKILL
when it reaches the named point, as a power cut or the OOM killer would."""

import os
import signal

from pipelines import settings


def failpoint(name: str) -> None:
    if settings.value(settings.FAILPOINT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
