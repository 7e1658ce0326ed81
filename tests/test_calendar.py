"""The KRX session calendar: XKRX, the closure overrides, the cache and rebalance days."""

import datetime as dt

from pipelines import calendar


def test_cached_sessions_equal_exchange_calendars():
    today = dt.date.today()
    end = calendar.calendar_window_end(today)
    sessions = calendar.load_sessions(today)  # the cache in the user's home, as a run reads it
    assert sessions == calendar.compute_sessions(end)
    assert sessions[-1] == calendar.last_session_on_or_before(end)


def test_cache_follows_the_day(tmp_path, monkeypatch):
    """A cache written on an earlier day is not served: the calendar's window moves on."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache_dir = tmp_path / "krx-short"
    monday, tuesday = dt.date(2026, 11, 16), dt.date(2026, 11, 17)

    first = calendar.load_sessions(monday)
    assert first[-1] == dt.date(2027, 11, 16)
    assert first == calendar.load_sessions(monday)  # now read from the file
    (monday_file,) = cache_dir.glob("xkrx-sessions-*.txt")

    second = calendar.load_sessions(tuesday)
    assert second[-1] == dt.date(2027, 11, 17)
    assert second[:-1] == first
    assert not monday_file.exists()  # the earlier day's file is removed
    assert len(list(cache_dir.glob("xkrx-sessions-*.txt"))) == 1


def test_calendar_window_end():
    assert calendar.calendar_window_end(dt.date(2026, 11, 22)) == dt.date(2027, 11, 22)
    assert calendar.calendar_window_end(dt.date(2028, 2, 29)) == dt.date(2029, 2, 28)


def test_known_sessions_and_closures():
    assert calendar.is_session(dt.date(2021, 1, 27))
    assert not calendar.is_session(dt.date(2021, 1, 1))  # New Year
    assert not calendar.is_session(dt.date(2020, 12, 31))  # year-end closure
    assert not calendar.is_session(dt.date(2026, 6, 3))  # override: local election day
    assert not calendar.is_session(dt.date(2021, 1, 30))  # Saturday
    assert calendar.shift_sessions(dt.date(2021, 1, 29), 2) == dt.date(2021, 2, 2)
    assert calendar.last_session_on_or_before(dt.date(2021, 1, 3)) == dt.date(2020, 12, 30)


def test_rebalance_days_follow_the_second_thursday_expiry():
    days = calendar.rebalance_effective_sessions(dt.date(2019, 1, 1), dt.date(2026, 12, 31))
    assert days[:4] == [
        dt.date(2019, 6, 14),
        dt.date(2019, 12, 13),
        dt.date(2020, 6, 12),
        dt.date(2020, 12, 11),
    ]
    # documented effective days: 2021-06-11, 2021-12-10, 2024-12-13 (each the day after expiry)
    assert {dt.date(2021, 6, 11), dt.date(2021, 12, 10), dt.date(2024, 12, 13)} <= set(days)
    assert len(days) == 16
    for day in days:
        expiry = calendar.shift_sessions(day, -1)
        assert expiry.weekday() <= 3 and 8 <= expiry.day <= 14
