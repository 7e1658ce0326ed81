"""Client of the KRX data portal (``getJsonData.cmd``), with the members' login since 2026.

Credentials come only from ``KRX_ID`` / ``KRX_PW``; they are sent in the login form and nowhere
else, and masked in every message.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import polars as pl
import requests

from pipelines import settings
from pipelines.fetch import AuthError, FetchFileError, Http, Politeness, json_records
from pipelines.fetch.plan import FileRequest
from pipelines.sources.reader import is_holiday_answer

log = logging.getLogger(__name__)

DEFAULT_URL = "https://data.krx.co.kr"
#: The portal treats a login as stale after an hour; log in again before that.
SESSION_TTL = 3600.0

_DATA = "/comm/bldAttendant/getJsonData.cmd"
_REFERER = "/contents/MDC/MDI/outerLoader/index.cmd"
_LOGIN_PAGE = "/contents/MDC/COMS/client/MDCCOMS001.cmd"
_LOGIN_JSP = "/contents/MDC/COMS/client/view/login.jsp"
_LOGIN_POST = "/contents/MDC/COMS/client/MDCCOMS001D1.cmd"


class KrxClient:
    """Fetch validated ``getJsonData.cmd`` answers, logging in when credentials are set."""

    def __init__(
        self,
        base_url: str | None = None,
        politeness: Politeness | None = None,
        session_ttl: float = SESSION_TTL,
    ) -> None:
        self.base_url = (base_url or settings.value(settings.KRX_URL_ENV) or DEFAULT_URL).rstrip(
            "/"
        )
        self._member = settings.value(settings.KRX_ID_ENV)
        self._password = settings.value(settings.KRX_PW_ENV)
        self._session_ttl = session_ttl
        self._logged_in_at: float | None = None
        self._http = Http(politeness or Politeness(), secrets=(self._member, self._password))

    def __enter__(self) -> KrxClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    @property
    def has_credentials(self) -> bool:
        return bool(self._member and self._password)

    def fetch(self, item: FileRequest) -> bytes:
        """The body of the answer for ``item``, exactly as sent, once it passed every check."""
        if self.has_credentials and self._session_stale():
            self.login()
        response = self._post_data(item)
        if _is_logout(response):
            if not self.has_credentials:
                raise AuthError(
                    f"KRX answered LOGOUT (HTTP {response.status_code}): the portal is "
                    f"members-only; set {settings.KRX_ID_ENV} and {settings.KRX_PW_ENV} to log in"
                )
            log.info("KRX session expired; logging in again")
            self.login()
            response = self._post_data(item)
            if _is_logout(response):
                raise AuthError("KRX answered LOGOUT again right after a successful login")
        if response.status_code != 200:
            raise FetchFileError(f"HTTP {response.status_code} from KRX")
        records = json_records(response.content, item.dataset.list_key)
        if _holiday_answer(item, records):
            raise FetchFileError(
                f"every record has '-' in {', '.join(item.dataset.holiday_fields)}: KRX answered "
                "as for a non-session (a closure the calendar does not know?)"
            )
        return response.content

    def login(self) -> None:
        """The portal's login flow (as pykrx does it); AuthError when the portal refuses."""
        if not self.has_credentials:
            raise AuthError(f"{settings.KRX_ID_ENV} and {settings.KRX_PW_ENV} are not set")
        try:
            self._login()
        except AuthError:
            raise
        except FetchFileError as exc:
            raise FetchFileError(f"KRX login failed: {exc}") from None
        self._logged_in_at = time.monotonic()
        log.info("KRX: logged in")

    def _login(self) -> None:
        page = self.base_url + _LOGIN_PAGE
        self._http.request("GET", page, what="KRX login page")
        self._http.request(
            "GET",
            self.base_url + _LOGIN_JSP,
            what="KRX login form",
            params={"site": "mdc"},
            headers={"Referer": page},
        )
        form = {
            "mbrNm": "",
            "telNo": "",
            "di": "",
            "certType": "",
            "mbrId": self._member,
            "pw": self._password,
        }
        code = self._post_login(form, page)
        if code == "CD011":  # already logged in elsewhere: take that session over
            code = self._post_login({**form, "skipDup": "Y"}, page)
        if code == "CD010":
            raise AuthError("KRX login refused: the account must change its password (CD010)")
        if code != "CD001":
            raise AuthError(f"KRX login refused (code {self._http.redact(code) or 'missing'})")

    def _session_stale(self) -> bool:
        return (
            self._logged_in_at is None or time.monotonic() - self._logged_in_at >= self._session_ttl
        )

    def _post_login(self, form: dict[str, Any], page: str) -> str:
        response = self._http.request(
            "POST",
            self.base_url + _LOGIN_POST,
            what="KRX login",
            data=form,
            headers={"Referer": page},
        )
        try:
            answer = response.json()
        except ValueError:
            raise AuthError(f"KRX login answer is not JSON (HTTP {response.status_code})") from None
        return str(answer.get("_error_code", "")) if isinstance(answer, dict) else ""

    def _post_data(self, item: FileRequest) -> requests.Response:
        log.debug("KRX %s", item.params)
        return self._http.request(
            "POST",
            self.base_url + _DATA,
            what=item.relpath,
            data=item.params,
            headers={
                "Referer": self.base_url + _REFERER,
                "X-Requested-With": "XMLHttpRequest",
            },
        )


def _holiday_answer(item: FileRequest, records: list) -> bool:
    fields = item.dataset.holiday_fields
    if not fields or not all(isinstance(r, dict) for r in records):
        return False
    columns = {f: [v if isinstance(v := r.get(f), str) else None for r in records] for f in fields}
    frame = pl.DataFrame(columns, schema={f: pl.Utf8 for f in fields})
    return is_holiday_answer(item.dataset, frame)


def _is_logout(response: requests.Response) -> bool:
    return response.content.strip() == b"LOGOUT"
