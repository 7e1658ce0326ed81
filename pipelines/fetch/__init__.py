"""Download real files from the KRX portal and ECOS into the landing zone (``docs/contract.md``).

``runner.fetch`` is the entry point. ``plan`` decides which files a date range needs, ``krx`` and
``ecos`` talk to the two sources; both go through the polite ``Http`` transport defined here (rate
limit, retries with exponential backoff, secrets masked in every message and log line).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

log = logging.getLogger(__name__)

#: A browser User-Agent: the portal serves JSON to what looks like its own web page.
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
#: urllib3 loggers that print request URLs (the ECOS key is part of the URL).
_URL_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry")


class FetchFileError(Exception):
    """One file could not be fetched; the run goes on with the other files."""


class AuthError(FetchFileError):
    """The source refused our identity: later files of the same source are not attempted."""


@dataclass(frozen=True)
class Politeness:
    """How gently one source is asked."""

    min_interval: float = 1.0  # seconds between two requests to the source
    timeout: float = 30.0  # seconds to connect and to wait for the answer
    attempts: int = 4  # tries per request on timeouts, connection errors, 429 and 5xx
    backoff: float = 2.0  # delay before the first retry; doubles on each retry
    max_backoff: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("Politeness.attempts must be at least 1")


class _Redact(logging.Filter):
    """Rewrite log records so that no secret reaches a handler."""

    def __init__(self, redact: Callable[[str], str]) -> None:
        super().__init__()
        self._redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self._redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


class Http:
    """A ``requests`` session with a rate limit, retries and secret masking."""

    def __init__(
        self,
        politeness: Politeness,
        secrets: Iterable[str | None] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.politeness = politeness
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": USER_AGENT, **(headers or {})})
        self._secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))
        self._last_request = float("-inf")
        self._filter = _Redact(self.redact)
        for name in _URL_LOGGERS:
            logging.getLogger(name).addFilter(self._filter)

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by ``***``."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def close(self) -> None:
        self.session.close()
        for name in _URL_LOGGERS:
            logging.getLogger(name).removeFilter(self._filter)

    def _wait_turn(self) -> None:
        delay = self._last_request + self.politeness.min_interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._last_request = time.monotonic()

    def request(self, method: str, url: str, *, what: str, **kwargs: Any) -> requests.Response:
        """Send one request, retrying transient failures; raise FetchFileError when they persist.

        Any answer below 500 (other than 429) is returned for the caller to judge.
        """
        p = self.politeness
        for attempt in range(1, p.attempts + 1):
            self._wait_turn()
            try:
                response = self.session.request(method, url, timeout=p.timeout, **kwargs)
            except requests.Timeout:
                problem = f"no answer within {p.timeout:g} s"
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                problem = f"connection error ({self.redact(str(exc))[:300]})"
            except requests.RequestException as exc:
                raise FetchFileError(f"request failed: {self.redact(str(exc))[:300]}") from None
            else:
                if response.status_code < 500 and response.status_code != 429:
                    return response
                problem = f"HTTP {response.status_code}"
            if attempt < p.attempts:
                delay = min(p.max_backoff, p.backoff * 2 ** (attempt - 1))
                log.warning(
                    "%s: %s; retry %d/%d in %.3g s", what, problem, attempt, p.attempts - 1, delay
                )
                time.sleep(delay)
        raise FetchFileError(f"{problem} (after {p.attempts} attempts)")


def json_records(body: bytes, list_key: tuple[str, ...]) -> list[Any]:
    """The record list of a JSON answer; FetchFileError unless it is a non-empty list."""
    if body.lstrip()[:1] == b"<":
        raise FetchFileError("an HTML page came back instead of JSON (notice or error page)")
    try:
        node: Any = json.loads(body)
    except ValueError:
        raise FetchFileError(f"the answer is not JSON (starts with {body[:40]!r})") from None
    for key in list_key:
        if not isinstance(node, dict) or key not in node:
            raise FetchFileError(f"JSON without the list key {'.'.join(list_key)!r}")
        node = node[key]
    if not isinstance(node, list):
        raise FetchFileError(f"{'.'.join(list_key)!r} is not a list")
    if not node:
        raise FetchFileError(
            f"empty {'.'.join(list_key)!r}: no data for a period that should have some "
            "(not published yet, or the source answered as for a holiday)"
        )
    return node
