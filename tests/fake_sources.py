"""A local emulation of the KRX data portal (with its login) and of ECOS, serving the recorded
answers of ``tests/fixtures/krx-real``; the ``fake`` and ``credentials`` fixtures."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from pipelines.fetch import Politeness
from pipelines.fetch.runner import FetchReport, fetch

ROOT = Path(__file__).resolve().parents[1]
_CANDIDATES = (ROOT / "tests" / "fixtures" / "krx-real",)
REAL = next((p for p in _CANDIDATES if p.is_dir()), _CANDIDATES[-1])

FAST = Politeness(min_interval=0, timeout=2.0, attempts=3, backoff=0.001, max_backoff=0.01)
D = dt.date
AFTER = D(2021, 2, 1)  # "today" for January 2021 runs: every balance published

KRX_ID, KRX_PW = "member-7f3a2c", "pw-S3cr3t-9x!"
ECOS_KEY = "ECOSKEY0123456789"

DATA = "/comm/bldAttendant/getJsonData.cmd"
LOGIN_PAGE = "/contents/MDC/COMS/client/MDCCOMS001.cmd"
LOGIN_JSP = "/contents/MDC/COMS/client/view/login.jsp"
LOGIN_POST = "/contents/MDC/COMS/client/MDCCOMS001D1.cmd"

#: (bld, trdDd or year of strtDd, market or index) -> recorded body under REAL.
RECORDED = {
    ("MDCSTAT30501", "20210127", "1"): "landing/krx/short_balance/KOSPI/2021-01-27.json",
    ("MDCSTAT30101", "20210125", "STK"): "landing/krx/short_trading/KOSPI/2021-01-25.json",
    ("MDCSTAT30101", "20210104", "KSQ"): "landing/krx/short_trading/KOSDAQ/2021-01-04.json",
    ("MDCSTAT00301", "2021", "1001"): "landing/krx/index_ohlcv/KOSPI/2021.json",
    ("MDCSTAT01901", "", "ALL"): "landing/krx/securities/2026-01-25.json",
}
LIST_KEYS = {"MDCSTAT00301": "output", "MDCSTAT00601": "output"}
STAMP = "2026.01.25 PM 08:30:43"
HTML_NOTICE = "<!DOCTYPE html><html><body>서비스 제공 불가능</body></html>".encode()
HOLIDAY = (REAL / "formats" / "MDCSTAT30101_holiday_KOSPI_2021-01-03.json").read_bytes()


def _compact(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _weekdays(start: str, end: str) -> list[dt.date]:
    lo, hi = (dt.datetime.strptime(x, "%Y%m%d").date() for x in (start, end))
    days = (lo + dt.timedelta(days=i) for i in range((hi - lo).days + 1))
    return [d for d in days if d.weekday() < 5]


def krx_body(params: dict[str, str]) -> bytes:
    """The recorded answer for a request when there is one, else a small one in the same format."""
    bld = params["bld"].rsplit("/", 1)[-1]
    when = params.get("trdDd") or params.get("strtDd", "")[:4]
    where = params.get("mktTpCd") or params.get("mktId") or params["indIdx"] + params["indIdx2"]
    recorded = RECORDED.get((bld, when, where))
    if recorded:
        return (REAL / recorded).read_bytes()
    if bld == "MDCSTAT00301":
        rows = [
            {"TRD_DD": d.strftime("%Y/%m/%d"), "CLSPRC_IDX": "1,000.00"}
            for d in _weekdays(params["strtDd"], params["endDd"])
        ]
    else:
        rows = [{"ISU_CD": "00104K", "ISU_ABBRV": f"{when}-{where}", "BAL_QTY": "1,234"}]
    return _compact({LIST_KEYS.get(bld, "OutBlock_1"): rows, "CURRENT_DATETIME": STAMP})


def ecos_body(start: str, end: str) -> bytes:
    rows = [
        {
            "STAT_CODE": "731Y001",
            "STAT_NAME": "3.1.1.1. 주요국 통화의 대원화환율",
            "ITEM_CODE1": "0000001",
            "ITEM_NAME1": "원/미국달러(매매기준율)",
            "UNIT_NAME": "원",
            "WGT": None,
            "TIME": d.strftime("%Y%m%d"),
            "DATA_VALUE": "1,086.30",
        }
        for d in _weekdays(start, end)
    ]
    return _compact({"StatisticSearch": {"list_total_count": len(rows), "row": rows}})


def ecos_result(code: str, message: str) -> bytes:
    return _compact({"RESULT": {"CODE": code, "MESSAGE": message}})


@dataclass
class Seen:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass
class Answer:
    status: int
    body: bytes
    delay: float = 0.0


@dataclass
class FakeSources:
    """The portal and ECOS on 127.0.0.1; ``krx_next`` / ``ecos_next`` override the next answers."""

    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    krx_next: list[Answer] = field(default_factory=list)
    ecos_next: list[Answer] = field(default_factory=list)
    login_codes: list[str] = field(default_factory=list)  # next login answers; then CD001
    require_login: bool = False
    sessions: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def data_requests(self) -> list[dict[str, str]]:
        return [s.params for s in self.seen if s.path == DATA]

    def answer(self, method: str, raw_path: str, body: bytes, headers: dict[str, str]) -> Answer:
        parts = urlsplit(raw_path)
        params = dict(parse_qsl(parts.query if method == "GET" else body.decode()))
        with self.lock:
            self.seen.append(Seen(method, parts.path, params, headers))
            if parts.path in (LOGIN_PAGE, LOGIN_JSP):
                return Answer(200, b"<html>login</html>")
            if parts.path == LOGIN_POST:
                code = self.login_codes.pop(0) if self.login_codes else "CD001"
                return Answer(200, _compact({"_error_code": code, "_error_message": "..."}))
            if parts.path == DATA:
                if self.krx_next:
                    return self.krx_next.pop(0)
                session = SimpleCookie(headers.get("Cookie", "")).get("JSESSIONID")
                if self.require_login and (session is None or session.value not in self.sessions):
                    return Answer(400, b"LOGOUT")
                return Answer(200, krx_body(params))
            if parts.path.startswith("/api/StatisticSearch/"):
                key, *_, start, end, _item = parts.path.split("/")[3:]
                if key != ECOS_KEY:
                    return Answer(200, ecos_result("INFO-100", "인증키가 유효하지 않습니다."))
                if self.ecos_next:
                    return self.ecos_next.pop(0)
                return Answer(200, ecos_body(start, end))
            return Answer(404, b"not found")

    def new_session(self) -> str:
        sid = uuid.uuid4().hex
        with self.lock:
            self.sessions.add(sid)
        return sid


def _handler(fake: FakeSources) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            answer = fake.answer(method, self.path, body, dict(self.headers))
            time.sleep(answer.delay)
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(answer.body)))
                if self.path == LOGIN_POST and b'"CD001"' in answer.body:
                    self.send_header("Set-Cookie", f"JSESSIONID={fake.new_session()}; Path=/")
                self.end_headers()
                self.wfile.write(answer.body)
            except (BrokenPipeError, ConnectionResetError):  # the client timed out
                pass

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def log_message(self, *args: object) -> None:
            pass

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for every handler, sleeping ones included


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch):
    for var in ("KRX_ID", "KRX_PW", "ECOS_API_KEY", "KRX_PORTAL_URL", "ECOS_API_URL"):
        monkeypatch.delenv(var, raising=False)
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(var, "127.0.0.1")
    sources = FakeSources()
    server = _Server(("127.0.0.1", 0), _handler(sources))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    sources.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield sources
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRX_ID", KRX_ID)
    monkeypatch.setenv("KRX_PW", KRX_PW)


def run(fake: FakeSources, root: Path, start: dt.date, end: dt.date, datasets=None, **kwargs):
    kwargs.setdefault("today", AFTER)
    kwargs.setdefault("politeness", FAST)
    return fetch(
        start,
        end,
        datasets,
        landing_root=root,
        krx_url=fake.url,
        ecos_url=fake.url + "/api",
        **kwargs,
    )


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def reasons(report: FetchReport) -> dict[str, str]:
    return {f.relpath: f.reason for f in report.failed}
