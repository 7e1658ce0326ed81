"""The sessions of a sample, by position ``t``: rebalances, month starts, regime scopes, T+n."""

from __future__ import annotations

import datetime as dt

from pipelines.calendar import calendar_end, rebalance_effective_sessions, sessions_between
from pipelines.regimes import regime_on


class Timeline:
    """The XKRX sessions in ``[start, end]``; events are placed at session positions."""

    def __init__(self, start: dt.date, end: dt.date):
        self.start, self.end = start, end
        self.sessions = sessions_between(start, end)
        if not self.sessions:
            raise ValueError(f"no KRX session between {start} and {end}")
        self.T = len(self.sessions)
        self.t_of = {d: t for t, d in enumerate(self.sessions)}
        self._cal = sessions_between(self.sessions[0], calendar_end())
        self._cal_pos = {d: k for k, d in enumerate(self._cal)}
        self.scopes = [regime_on(d).scope for d in self.sessions]
        self.rebalance_ts = [
            self.t_of[d] for d in rebalance_effective_sessions(start, end) if self.t_of[d] > 0
        ]
        self.rebalance_set = set(self.rebalance_ts)
        self.month_first = {
            t
            for t in range(self.T)
            if t == 0 or self.sessions[t].month != self.sessions[t - 1].month
        }

    def published(self, day: dt.date, n: int) -> dt.date:
        """The session ``n`` sessions after ``day`` (KRX publishes balances on T+2)."""
        k = self._cal_pos[day] + n
        return self._cal[k] if k < len(self._cal) else day + dt.timedelta(days=n)
