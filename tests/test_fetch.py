"""The fetcher against a local emulation of the KRX portal and ECOS serving recorded answers."""

from __future__ import annotations

import logging
import time

import pytest

from pipelines.fetch import Http, Politeness
from pipelines.fetch.krx import KrxClient
from pipelines.fetch.plan import plan_files
from pipelines.fetch.runner import FetchError
from tests.fake_sources import (
    AFTER,
    DATA,
    ECOS_KEY,
    FAST,
    HOLIDAY,
    HTML_NOTICE,
    KRX_ID,
    KRX_PW,
    LOGIN_JSP,
    LOGIN_PAGE,
    LOGIN_POST,
    REAL,
    RECORDED,
    Answer,
    D,
    ecos_body,
    ecos_result,
    files_under,
    krx_body,
    reasons,
    run,
)

# --- plan --------------------------------------------------------------------------------------


def test_plan_asks_sessions_only():
    plan = plan_files(D(2021, 1, 1), D(2021, 1, 5), ["short_trading"], today=AFTER)
    assert [f.relpath for f in plan.files] == [
        "krx/short_trading/KOSPI/2021-01-04.json",
        "krx/short_trading/KOSDAQ/2021-01-04.json",
        "krx/short_trading/KOSPI/2021-01-05.json",
        "krx/short_trading/KOSDAQ/2021-01-05.json",
    ]


def test_plan_request_parameters():
    plan = plan_files(D(2021, 1, 27), D(2021, 1, 27), today=AFTER)
    params = {f.relpath: f.params for f in plan.files}
    assert params["krx/short_balance/KOSPI/2021-01-27.json"] == {
        "bld": "dbms/MDC/STAT/srt/MDCSTAT30501",
        "locale": "ko_KR",
        "mktTpCd": "1",
        "trdDd": "20210127",
    }
    assert params["krx/short_trading/KOSDAQ/2021-01-27.json"] == {
        "bld": "dbms/MDC/STAT/srt/MDCSTAT30101",
        "locale": "ko_KR",
        "mktId": "KSQ",
        "inqCond": "STMFRTSCIFDRFS",
        "trdDd": "20210127",
    }
    assert params["krx/index_ohlcv/KOSPI200/2021.json"] == {
        "bld": "dbms/MDC/STAT/standard/MDCSTAT00301",
        "locale": "ko_KR",
        "indIdx": "1",
        "indIdx2": "028",
        "strtDd": "20210127",
        "endDd": "20210127",
    }
    assert params["krx/index_constituents/KOSDAQ150/2021-01-27.json"] == {
        "bld": "dbms/MDC/STAT/standard/MDCSTAT00601",
        "locale": "ko_KR",
        "indIdx": "2",
        "indIdx2": "203",
        "trdDd": "20210127",
    }
    assert params["ecos/usdkrw/2021.json"] == {
        "stat_code": "731Y001",
        "cycle": "D",
        "item_code": "0000001",
        "start": "20210127",
        "end": "20210127",
    }
    # no securities (today is outside the range); the seven theme indices; prices, foreign
    # holdings, sectors, investor volume and value, the two top-50 screens: one file per market
    # each; the designation list: one file for all markets
    assert len(plan.files) == 2 + 2 + 4 + 2 + 1 + 7 + 2 + 2 + 2 + 2 + 2 + 2 + 2 + 1
    assert any("securities" in note for note in plan.notes)


def test_plan_year_files_clipped_to_range_and_today():
    plan = plan_files(D(2020, 12, 30), D(2021, 1, 8), ["index_ohlcv"], today=D(2021, 1, 5))
    ranges = {f.relpath: (f.params["strtDd"], f.params["endDd"]) for f in plan.files}
    assert ranges["krx/index_ohlcv/KOSDAQ/2020.json"] == ("20201230", "20201231")
    assert ranges["krx/index_ohlcv/KOSDAQ/2021.json"] == ("20210101", "20210105")
    assert len(ranges) == 8
    # a year without a session in the range asks nothing
    assert plan_files(D(2021, 1, 1), D(2021, 1, 3), ["index_ohlcv"], today=AFTER).files == []


def test_plan_waits_for_t_plus_2_and_dates_the_master_today():
    plan = plan_files(D(2021, 1, 25), D(2021, 1, 29), ["short_balance"], today=D(2021, 1, 28))
    assert sorted({f.start for f in plan.files}) == [D(2021, 1, 25), D(2021, 1, 26)]
    assert "2021-01-27" in plan.notes[0]
    master = plan_files(D(2026, 1, 1), D(2026, 12, 31), ["securities"], today=D(2026, 1, 25))
    assert [(f.relpath, f.params) for f in master.files] == [
        (
            "krx/securities/2026-01-25.json",
            {"bld": "dbms/MDC/STAT/standard/MDCSTAT01901", "locale": "ko_KR", "mktId": "ALL"},
        )
    ]


def test_plan_rejects_unknown_dataset_and_reversed_range():
    with pytest.raises(ValueError, match="short_sales"):
        plan_files(D(2021, 1, 4), D(2021, 1, 4), ["short_sales"], today=AFTER)
    with pytest.raises(ValueError, match="after"):
        plan_files(D(2021, 1, 5), D(2021, 1, 4), today=AFTER)


# --- fetch: happy path, resume, refresh -----------------------------------------------------------


def test_fetch_writes_bodies_byte_identical_then_skips_then_refreshes(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("ECOS_API_KEY", ECOS_KEY)
    start, end = D(2021, 1, 4), D(2021, 1, 27)
    datasets = ["short_balance", "short_trading", "index_ohlcv", "usdkrw"]
    report = run(fake, tmp_path, start, end, datasets)

    plan = plan_files(start, end, datasets, today=AFTER).files
    assert report.ok, report.summary()
    assert report.written == [f.relpath for f in plan] and report.planned == len(plan) == 77
    for item in plan:
        p = item.params
        expected = krx_body(p) if item.source == "krx" else ecos_body(p["start"], p["end"])
        assert (tmp_path / item.relpath).read_bytes() == expected, item.relpath
    for recorded in RECORDED.values():
        if "securities" not in recorded:
            relpath = recorded.removeprefix("landing/")
            assert (tmp_path / relpath).read_bytes() == (REAL / recorded).read_bytes()
    assert files_under(tmp_path) == sorted(f.relpath for f in plan)  # no temporary files left
    data = fake.seen[0]
    assert data.headers["Referer"] == fake.url + "/contents/MDC/MDI/outerLoader/index.cmd"
    assert data.headers["X-Requested-With"] == "XMLHttpRequest"
    assert data.headers["User-Agent"].startswith("Mozilla/5.0")

    fake.seen.clear()
    again = run(fake, tmp_path, start, end, datasets)
    assert again.ok and again.written == [] and len(again.skipped) == 77
    assert fake.seen == []

    refreshed = run(fake, tmp_path, start, end, datasets, refresh=True)
    assert refreshed.ok and len(refreshed.written) == 77
    assert len(fake.seen) == 77


def test_fetch_securities_snapshot(fake, tmp_path):
    day = D(2026, 1, 25)
    report = run(fake, tmp_path, day, day, ["securities"], today=day)
    assert report.ok and report.written == ["krx/securities/2026-01-25.json"]
    assert (tmp_path / "krx/securities/2026-01-25.json").read_bytes() == (
        REAL / "landing/krx/securities/2026-01-25.json"
    ).read_bytes()
    assert fake.data_requests() == [
        {"bld": "dbms/MDC/STAT/standard/MDCSTAT01901", "locale": "ko_KR", "mktId": "ALL"}
    ]


def test_non_sessions_are_never_requested(fake, tmp_path):
    report = run(fake, tmp_path, D(2021, 1, 1), D(2021, 1, 5), ["short_trading"])
    assert report.ok
    assert sorted({p["trdDd"] for p in fake.data_requests()}) == ["20210104", "20210105"]


def test_year_file_is_fetched_again_when_it_does_not_cover_the_range(fake, tmp_path):
    run(fake, tmp_path, D(2021, 1, 4), D(2021, 1, 27), ["index_ohlcv"])
    fake.seen.clear()
    covered = run(fake, tmp_path, D(2021, 1, 11), D(2021, 1, 27), ["index_ohlcv"])
    assert len(covered.skipped) == 4 and fake.seen == []
    # the recorded KOSPI file ends on 2021-01-29; the synthetic ones follow the request
    longer = run(fake, tmp_path, D(2021, 1, 4), D(2021, 1, 29), ["index_ohlcv"])
    assert longer.skipped == ["krx/index_ohlcv/KOSPI/2021.json"]
    assert len(longer.written) == 3


def test_hand_made_csv_counts_as_present(fake, tmp_path):
    csv = tmp_path / "krx/short_trading/KOSPI/2021-01-04.csv"
    csv.parent.mkdir(parents=True)
    csv.write_bytes(b"x")
    report = run(fake, tmp_path, D(2021, 1, 4), D(2021, 1, 4), ["short_trading"])
    assert report.skipped == ["krx/short_trading/KOSPI/2021-01-04.json"]
    assert [p["mktId"] for p in fake.data_requests()] == ["KSQ"]


# --- fetch: answers that must never be saved ----------------------------------------------------


def test_logout_without_credentials_is_a_clear_error_and_leaves_no_file(fake, tmp_path):
    fake.require_login = True
    report = run(fake, tmp_path, D(2021, 1, 27), D(2021, 1, 27), ["short_balance"])
    assert not report.ok
    first, second = report.failed
    assert "LOGOUT" in first.reason and "KRX_ID" in first.reason
    assert second.reason.startswith("not attempted")
    assert len(fake.seen) == 1
    assert files_under(tmp_path) == []
    with pytest.raises(FetchError, match="LOGOUT"):
        report.raise_for_errors()


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (Answer(200, HTML_NOTICE), "HTML"),
        (Answer(200, HOLIDAY), "empty 'OutBlock_1'"),
        (Answer(200, b'{"output":[{"A":"1"}],"CURRENT_DATETIME":"x"}'), "without the list key"),
        (Answer(200, b"Service unavailable"), "not JSON"),
        (Answer(404, b'{"OutBlock_1":[{"A":"1"}]}'), "HTTP 404"),
    ],
    ids=["html", "empty", "no-list-key", "not-json", "http-404"],
)
def test_bad_answers_are_reported_and_not_saved(fake, tmp_path, answer, message):
    fake.krx_next = [answer]
    report = run(fake, tmp_path, D(2021, 1, 25), D(2021, 1, 25), ["short_trading"])
    assert message in reasons(report)["krx/short_trading/KOSPI/2021-01-25.json"]
    assert report.written == ["krx/short_trading/KOSDAQ/2021-01-25.json"]
    assert files_under(tmp_path) == ["krx/short_trading/KOSDAQ/2021-01-25.json"]


def test_timeouts_are_retried_then_reported(fake, tmp_path):
    fake.krx_next = [Answer(200, b"{}", delay=0.5), Answer(200, b"{}", delay=0.5)]
    politeness = Politeness(min_interval=0, timeout=0.15, attempts=2, backoff=0.001)
    report = run(
        fake, tmp_path, D(2021, 1, 25), D(2021, 1, 25), ["short_trading"], politeness=politeness
    )
    reason = reasons(report)["krx/short_trading/KOSPI/2021-01-25.json"]
    assert "no answer within 0.15 s" in reason and "2 attempts" in reason
    assert [p["mktId"] for p in fake.data_requests()] == ["STK", "STK", "KSQ"]
    assert files_under(tmp_path) == ["krx/short_trading/KOSDAQ/2021-01-25.json"]


def test_server_error_is_retried(fake, tmp_path):
    fake.krx_next = [Answer(500, b"Internal Server Error")]
    report = run(fake, tmp_path, D(2021, 1, 25), D(2021, 1, 25), ["short_trading"])
    assert report.ok
    assert [p["mktId"] for p in fake.data_requests()] == ["STK", "STK", "KSQ"]
    path = tmp_path / "krx/short_trading/KOSPI/2021-01-25.json"
    assert (
        path.read_bytes() == (REAL / "landing/krx/short_trading/KOSPI/2021-01-25.json").read_bytes()
    )


def test_rate_limit_spaces_requests(fake):
    http = Http(Politeness(min_interval=0.05, attempts=1))
    started = time.monotonic()
    for _ in range(3):
        http.request("GET", fake.url + LOGIN_PAGE, what="page")
    http.close()
    assert time.monotonic() - started >= 0.1


# --- login ---------------------------------------------------------------------------------------


def test_login_flow_and_credentials_never_leak(fake, tmp_path, credentials, caplog):
    caplog.set_level(logging.DEBUG)
    fake.require_login = True
    fake.login_codes = ["CD011"]  # duplicate login, then CD001 on the skipDup=Y retry
    report = run(fake, tmp_path, D(2021, 1, 27), D(2021, 1, 27), ["short_balance"])
    assert report.ok, report.summary()

    steps = [(s.method, s.path) for s in fake.seen]
    assert steps == [
        ("GET", LOGIN_PAGE),
        ("GET", LOGIN_JSP),
        ("POST", LOGIN_POST),
        ("POST", LOGIN_POST),
        ("POST", DATA),
        ("POST", DATA),
    ]
    assert fake.seen[1].params == {"site": "mdc"}
    first, retry = fake.seen[2].params, fake.seen[3].params
    assert (first["mbrId"], first["pw"], "skipDup" in first) == (KRX_ID, KRX_PW, False)
    assert (retry["mbrId"], retry["pw"], retry["skipDup"]) == (KRX_ID, KRX_PW, "Y")
    assert (tmp_path / "krx/short_balance/KOSPI/2021-01-27.json").read_bytes() == (
        REAL / "landing/krx/short_balance/KOSPI/2021-01-27.json"
    ).read_bytes()

    texts = [caplog.text, report.summary(), repr(report)]
    texts += [p.read_text("utf-8") for p in tmp_path.rglob("*") if p.is_file()]
    assert not any(secret in text for text in texts for secret in (KRX_ID, KRX_PW))


def test_password_change_required_stops_krx_and_leaks_nothing(fake, tmp_path, credentials, caplog):
    caplog.set_level(logging.DEBUG)
    fake.login_codes = ["CD010"]
    report = run(fake, tmp_path, D(2021, 1, 27), D(2021, 1, 27), ["short_balance"])
    first, second = report.failed
    assert "CD010" in first.reason and "password" in first.reason
    assert second.reason.startswith("not attempted")
    assert fake.data_requests() == [] and files_under(tmp_path) == []
    for text in (caplog.text, report.summary()):
        assert KRX_ID not in text and KRX_PW not in text


def test_logout_mid_run_logs_in_again_once(fake, tmp_path, credentials):
    fake.require_login = True
    fake.krx_next = [Answer(400, b"LOGOUT")]
    report = run(fake, tmp_path, D(2021, 1, 27), D(2021, 1, 27), ["short_balance"])
    assert report.ok, report.summary()
    assert [s.path for s in fake.seen].count(LOGIN_POST) == 2
    assert len(fake.data_requests()) == 3  # LOGOUT, its retry, the KOSDAQ file


def test_logout_right_after_login_is_fatal(fake, tmp_path, credentials):
    fake.krx_next = [Answer(400, b"LOGOUT"), Answer(400, b"LOGOUT")]
    report = run(fake, tmp_path, D(2021, 1, 27), D(2021, 1, 27), ["short_balance"])
    assert "LOGOUT again" in report.failed[0].reason
    assert report.failed[1].reason.startswith("not attempted")
    assert files_under(tmp_path) == []


def test_session_expires_after_its_lifetime(fake, credentials):
    item = plan_files(D(2021, 1, 27), D(2021, 1, 27), ["short_balance"], today=AFTER).files[0]
    with KrxClient(fake.url, FAST, session_ttl=0) as client:
        client.fetch(item)
        client.fetch(item)
    assert [s.path for s in fake.seen].count(LOGIN_POST) == 2


# --- ECOS ----------------------------------------------------------------------------------------


def test_ecos_no_data_is_an_error_without_file_or_key(fake, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("ECOS_API_KEY", ECOS_KEY)
    fake.ecos_next = [Answer(200, ecos_result("INFO-200", "해당하는 데이터가 없습니다."))]
    report = run(fake, tmp_path, D(2021, 1, 4), D(2021, 1, 5), ["usdkrw"])
    reason = reasons(report)["ecos/usdkrw/2021.json"]
    assert "INFO-200" in reason
    assert files_under(tmp_path) == []
    for text in (reason, report.summary(), caplog.text):
        assert ECOS_KEY not in text


def test_ecos_bad_key_stops_ecos_and_never_shows_the_key(fake, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "WRONGKEY987654321"
    monkeypatch.setenv("ECOS_API_KEY", wrong)
    report = run(fake, tmp_path, D(2020, 12, 28), D(2021, 1, 5), ["usdkrw"])
    failed = reasons(report)
    assert "INFO-100" in failed["ecos/usdkrw/2020.json"]
    assert failed["ecos/usdkrw/2021.json"].startswith("not attempted")
    assert len(fake.seen) == 1 and files_under(tmp_path) == []
    assert "/api/StatisticSearch/" in caplog.text  # urllib3 logged the URL, masked
    for text in (report.summary(), caplog.text):
        assert wrong not in text


def test_ecos_without_key(fake, tmp_path):
    report = run(fake, tmp_path, D(2021, 1, 4), D(2021, 1, 5), ["usdkrw"])
    assert "ECOS_API_KEY is not set" in report.failed[0].reason
    assert fake.seen == []


def test_fetch_job_runs_the_same_fetch_in_dagster(fake, tmp_path, monkeypatch):

    from pipelines.defs.assets.fetch import krx_fetch
    from pipelines.defs.resources import LandingZone

    monkeypatch.setenv("KRX_PORTAL_URL", fake.url)
    run_config = {
        "ops": {
            "fetch_landing_files": {
                "config": {
                    "start": "2021-01-25",
                    "end": "2021-01-27",
                    "datasets": ["short_balance"],
                    "min_interval_s": 0.0,
                }
            }
        }
    }
    result = krx_fetch.execute_in_process(
        run_config=run_config, resources={"landing": LandingZone(root=str(tmp_path))}
    )
    assert result.success
    expected = [
        f"krx/short_balance/{m}/2021-01-{d}.json" for d in (25, 26, 27) for m in ("KOSDAQ", "KOSPI")
    ]
    assert files_under(tmp_path) == sorted(expected)
    kospi = tmp_path / "krx/short_balance/KOSPI/2021-01-27.json"
    assert (
        kospi.read_bytes()
        == (REAL / "landing/krx/short_balance/KOSPI/2021-01-27.json").read_bytes()
    )

    fake.seen.clear()  # a second run finds every file present and asks for nothing
    again = krx_fetch.execute_in_process(
        run_config=run_config, resources={"landing": LandingZone(root=str(tmp_path))}
    )
    assert again.success and fake.seen == []
