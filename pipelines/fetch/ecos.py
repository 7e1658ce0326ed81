"""Client of the Bank of Korea ECOS Open API (``StatisticSearch``).

The key (``ECOS_API_KEY``) is part of the URL path, so it is masked in every message and in the
URL lines urllib3 logs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from urllib.parse import quote

from pipelines import settings
from pipelines.fetch import AuthError, FetchFileError, Http, Politeness, json_records
from pipelines.fetch.plan import FileRequest

log = logging.getLogger(__name__)

DEFAULT_URL = "https://ecos.bok.or.kr/api"
#: More rows than one year of daily data can have.
MAX_ROWS = 100_000


class EcosClient:
    """Fetch validated ``StatisticSearch`` answers."""

    def __init__(self, base_url: str | None = None, politeness: Politeness | None = None) -> None:
        self.base_url = (base_url or settings.value(settings.ECOS_URL_ENV) or DEFAULT_URL).rstrip(
            "/"
        )
        key = settings.value(settings.ECOS_KEY_ENV)
        self._key = quote(key, safe="") if key else None
        self._http = Http(politeness or Politeness(), secrets=(key, self._key))

    def __enter__(self) -> EcosClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def fetch(self, item: FileRequest) -> bytes:
        """The body of the answer for ``item``, exactly as sent, once it passed every check."""
        if not self._key:
            raise AuthError(f"{settings.ECOS_KEY_ENV} is not set")
        url = self._url(item)
        log.debug("ECOS %s", self._http.redact(url))
        response = self._http.request("GET", url, what=item.relpath)
        if response.status_code != 200:
            raise FetchFileError(f"HTTP {response.status_code} from ECOS")
        _raise_for_result(response.content, self._http.redact)
        json_records(response.content, item.dataset.list_key)
        return response.content

    def _url(self, item: FileRequest) -> str:
        p = item.params
        return (
            f"{self.base_url}/StatisticSearch/{self._key}/json/kr/1/{MAX_ROWS}/"
            f"{p['stat_code']}/{p['cycle']}/{p['start']}/{p['end']}/{p['item_code']}"
        )


def _raise_for_result(body: bytes, redact: Callable[[str], str]) -> None:
    """ECOS answers errors (and "no data") as ``{"RESULT": {"CODE": ..., "MESSAGE": ...}}``."""
    try:
        answer = json.loads(body)
    except ValueError:
        return  # json_records names the problem
    if not isinstance(answer, dict) or "RESULT" not in answer:
        return
    result = answer["RESULT"] if isinstance(answer["RESULT"], dict) else {}
    code = str(result.get("CODE", "?"))
    message = redact(f"ECOS {code}: {result.get('MESSAGE', '')}".strip())
    if code == "INFO-100":  # invalid key: every later request would fail the same way
        raise AuthError(f"{message} (check {settings.ECOS_KEY_ENV})")
    raise FetchFileError(message)
