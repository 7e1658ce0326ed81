"""The files beside the balances (prices, foreign holdings, industries, theme indices, short
trading by investor type), in KRX's formats and consistent with the balance and trading files.

* prices: the close of the balance/trading files, an open, high and low around it on KRX's tick
  grid, ``ACC_TRDVOL``/``ACC_TRDVAL`` equal to the trading file's, ``MKTCAP = close x LIST_SHRS``
  and 0 for open, high and low where the ticker did not trade (KRX's form);
* foreign holdings: a foreign share per ticker that drifts and, for a few tickers at a time,
  climbs for two weeks; a few tickers carry a foreign-ownership limit;
* industries and theme indices: snapshots at month starts and on KRX's renames of 2024-07-01
  and 2024-12-09 (:data:`INDUSTRIES` holds the three names of each industry); the reporters'
  sectors (:data:`REPORTED`) get tickers whose mean balance ratio in the 2025 all-listed regime
  lands near the reported figure (over the whole range when it holds no 2025 session), so the
  industries are drawn after the sessions have run;
* investor types: per market and session the day's summed short volume and value of the
  trading file (the same total, to the share), split by shares that follow the regime
  (:data:`INVESTOR_SHARES`).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import orjson

from pipelines.regimes import ALL_LISTED, INDEX_CONSTITUENTS, MARKET_MAKERS_ONLY
from pipelines.sample.formats import (
    fluc,
    fmt_int,
    fmt_signed_hundredths,
    hundredths,
    hundredths_field,
    int_field,
    isin_for,
    records,
    signed_hundredths,
    signed_hundredths_field,
    text_matrix,
)
from pipelines.sample.market import tick_round
from pipelines.sources.datasets import DATASETS, MARKETS, landing_relpath
from pipelines.sources.datasets.codes import THEME_INDICES

#: KRX's industry renames: each industry's name before 2024-07-01, from then, and from
#: 2024-12-09 (invented names in KRX's style; the first four are the reporters' sectors).
RENAMES = (dt.date(2024, 7, 1), dt.date(2024, 12, 9))
INDUSTRIES = (
    ("전기전자", "전기·전자", "전기장비"),  # secondary battery makers
    ("의약품", "제약", "제약"),  # bio
    ("오락,문화", "오락·문화", "오락·문화"),  # games
    ("서비스업", "일반서비스", "소프트웨어"),  # software
    ("반도체", "반도체", "반도체"),
    ("화학", "화학", "화학"),
    ("철강금속", "금속", "금속"),
    ("운수창고업", "운송·창고", "운송·창고"),
    ("유통업", "유통", "유통"),
    ("기계", "기계·장비", "기계·장비"),
    ("금융업", "금융", "금융"),
)
#: Mean balance ratio (fraction of listed shares) the reporters quote for the 2025 all-listed
#: regime, per industry position in :data:`INDUSTRIES`.
REPORTED = {0: 0.048, 1: 0.042, 2: 0.039, 3: 0.012}
#: Share of the common stocks in each reported industry.
_REPORTED_SHARE = 0.035
#: The theme index built from each industry's largest members (KRX's TOP 10 / 15 indices).
THEMES = {
    "BATTERY10": ((0,), 10),
    "BIO10": ((1,), 10),
    "GAME10": ((2,), 10),
    "INTERNET10": ((3,), 10),
    "SEMI15": ((4,), 15),
    "KRXSEMI": ((4, 0), 30),
    "KRXHEALTH": ((1,), 30),
}
#: Shares of (institutions, individuals, foreigners, others) in short trading per regime scope
#: (foreigners dominate where everyone may short; market makers, mostly institutions, trade
#: during bans; individuals grow after the 2021 reopening).
INVESTOR_SHARES = {
    ALL_LISTED: (0.36, 0.02, 0.615, 0.005),
    INDEX_CONSTITUENTS: (0.25, 0.03, 0.715, 0.005),
    MARKET_MAKERS_ONLY: (0.86, 0.005, 0.13, 0.005),
}
_AFTER_BAN = dt.date(2025, 3, 31)
_AFTER_BAN_SHARES = (0.19, 0.06, 0.745, 0.005)

_PRICE_SEPS = (
    '","FLUC_TP_CD":"',
    '","CMPPREVDD_PRC":"',
    '","FLUC_RT":"',
    '","TDD_OPNPRC":"',
    '","TDD_HGPRC":"',
    '","TDD_LWPRC":"',
    '","ACC_TRDVOL":"',
    '","ACC_TRDVAL":"',
    '","MKTCAP":"',
    '","LIST_SHRS":"',
    None,  # the market's tail, set per market
)
_FOREIGN_SEPS = (
    '","FLUC_TP_CD":"',
    '","CMPPREVDD_PRC":"',
    '","FLUC_RT":"',
    '","LIST_SHRS":"',
    '","FORN_HD_QTY":"',
    '","FORN_SHR_RT":"',
    '","FORN_ORD_LMT_QTY":"',
    '","FORN_LMT_EXHST_RT":"',
    '"},',
)
_MKT_ID = {"KOSPI": "STK", "KOSDAQ": "KSQ"}


def _signed(v: np.ndarray) -> np.ndarray:
    """Signed integers as text with thousands separators (``"-1,100"``)."""
    v = np.asarray(v, dtype=np.int64)
    sign = np.where(v < 0, 45, 0).astype(np.uint8)[:, None]
    return np.concatenate([sign, int_field(np.abs(v))], axis=1)


def _signed_hundredths(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """round(num / den * 100, 2) half up as ``"-4.18"`` text."""
    h = hundredths(np.abs(num), den)
    return signed_hundredths_field(np.where(num < 0, -h, h))


class Beside:
    """State and files of the datasets beside the balances, driven from the session loop."""

    def __init__(self, writer, universe, rng: np.random.Generator):
        self.w, self.u, self.rng = writer, universe, rng
        N, kospi = universe.N, universe.market_id == 0
        cap = universe.price0 * universe.shares0
        big = cap >= np.median(cap)
        base = np.where(kospi, 0.10, 0.05) * np.where(big, 2.2, 0.8)
        self.logit = np.log(base / (1 - base)) + rng.normal(0, 0.9, N)
        self.trend = np.zeros(N)
        self.trend_left = np.zeros(N, dtype=np.int64)
        limited = np.flatnonzero(universe.is_common & big)
        self.limit = np.ones(N)
        chosen = rng.choice(limited, size=min(6, len(limited)), replace=False)
        self.limit[chosen] = rng.choice([0.49, 0.4, 0.3], size=len(chosen))
        self.logit[chosen] = np.minimum(self.logit[chosen], np.log(0.25 / 0.75))
        # mean balance ratio per ticker: [0] other sessions, [1] the 2025 all-listed regime
        self.ratio_sum = np.zeros((2, N))
        self.ratio_n = np.zeros((2, N), dtype=np.int64)
        self.snaps: list[tuple] = []
        self.snap_markets: list[np.ndarray] = []
        self.investors: dict[tuple, list] = {}
        self.industry = np.full(N, -1, dtype=np.int64)
        self._heads_for: dict[int, list] = {}
        self._head: dict[int, tuple] = {}

    def _heads(self, idx, market: str) -> tuple[np.ndarray, np.ndarray]:
        secs = self.u.secs
        price, foreign = [], []
        for i in idx.tolist():
            s = secs[i]
            abbr = orjson.dumps(s.abbr).decode()
            price.append(
                f'{{"ISU_SRT_CD":"{s.code}","ISU_CD":"{isin_for(s.code)}","ISU_ABBRV":{abbr},'
                f'"MKT_NM":"{market}","SECT_TP_NM":"{s.sect}","TDD_CLSPRC":"'
            )
            foreign.append(f'{{"ISU_SRT_CD":"{s.code}","ISU_ABBRV":{abbr},"TDD_CLSPRC":"')
        return text_matrix(price), text_matrix(foreign)

    def session(self, t, day, orders, listed, qty, sh, close, prev_close, vol, short) -> None:
        """The price and foreign-holdings files of ``day``; investor rows; ratios kept."""
        rng, N = self.rng, self.u.N
        z = rng.standard_normal((4, N))
        start = (rng.random(N) < 0.004) & (self.trend_left == 0)
        self.trend = np.where(start, rng.uniform(0.03, 0.06, N), self.trend)
        self.trend_left = np.where(start, 10, np.maximum(self.trend_left - 1, 0))
        self.logit = self.logit + 0.015 * z[0] + np.where(self.trend_left > 0, self.trend, 0)
        share = np.minimum(1 / (1 + np.exp(-self.logit)), self.limit * 0.999)
        forn = np.floor(share * sh).astype(np.int64)
        lmt = np.where(self.limit < 1, np.floor(self.limit * sh), sh).astype(np.int64)
        traded = vol > 0
        opn = tick_round(prev_close * np.exp(0.008 * z[1]))
        hi = np.maximum(np.maximum(opn, close), tick_round(close * np.exp(np.abs(0.012 * z[2]))))
        lo = np.minimum(np.minimum(opn, close), tick_round(close * np.exp(-np.abs(0.012 * z[3]))))
        opn, hi, lo = (np.where(traded, a, 0).astype(np.int64) for a in (opn, hi, lo))
        chg = np.where(traded, close - prev_close, 0).astype(np.int64)
        flc = np.where(chg > 0, 49, np.where(chg < 0, 50, 51)).astype(np.uint8)[:, None]
        on = listed & (sh > 0)
        k = int(self.w.timeline.scopes[t] == ALL_LISTED and day >= _AFTER_BAN)
        self.ratio_sum[k, on] += qty[on] / sh[on]
        self.ratio_n[k, on] += 1
        for m, market in enumerate(MARKETS):
            idx = orders[m][0]
            if not len(idx):
                continue
            if self._heads_for.get(m) is not orders[m]:  # new row order: new row heads
                self._heads_for[m], self._head[m] = orders[m], self._heads(idx, market)
            price_head, foreign_head = self._head[m]
            c, pc, s = close[idx], prev_close[idx], sh[idx]
            ch, fl = chg[idx], flc[idx]
            rt = _signed_hundredths(ch, np.maximum(pc, 1))
            shared = self.w.fields[m]
            close_f, chg_f = int_field(c), _signed(ch)
            tail = f'","MKT_ID":"{_MKT_ID[market]}"}},'
            body = records(
                price_head,
                [
                    close_f,
                    fl,
                    chg_f,
                    rt,
                    int_field(opn[idx]),
                    int_field(hi[idx]),
                    int_field(lo[idx]),
                    shared["vol"],
                    shared["val"],
                    shared["cap"],
                    shared["shares"],
                ],
                (*_PRICE_SEPS[:-1], tail),
            )
            rel = landing_relpath(DATASETS["stock_ohlcv"], day, market)
            self.w._write(rel, self.w._envelope(body, day, rel))
            f, lq = forn[idx], lmt[idx]
            body = records(
                foreign_head,
                [
                    close_f,
                    fl,
                    chg_f,
                    rt,
                    shared["shares"],
                    int_field(f),
                    hundredths_field(hundredths(f, np.maximum(s, 1))),
                    shared["shares"] if (lq == s).all() else int_field(lq),
                    hundredths_field(hundredths(f, np.maximum(lq, 1))),
                ],
                _FOREIGN_SEPS,
            )
            rel = landing_relpath(DATASETS["foreign_holdings"], day, market)
            self.w._write(
                rel,
                b'{"output":['
                + body
                + f'],"CURRENT_DATETIME":"{self.w._stamp(day, rel)}"}}'.encode(),
            )
            key = (market, day.year)
            scope = self.w.timeline.scopes[t]
            shares = _AFTER_BAN_SHARES if scope == ALL_LISTED and day >= _AFTER_BAN else None
            shares = np.array(shares or INVESTOR_SHARES[scope])
            rows = []
            for total in (int(short[idx].sum()), int((short[idx] * c).sum())):
                split = shares * np.exp(0.15 * rng.standard_normal(4))
                split = split / split.sum()
                parts = [int(total * split[k]) for k in (0, 1, 3)]
                if market == "KOSPI":
                    parts[2] = 0  # KRX's KOSPI answers carry no "others"
                rows.append((parts[0], parts[1], total - sum(parts), parts[2], total))
            self.investors.setdefault(key, []).append((day, *rows))
        if t in self.w.timeline.month_first or day in RENAMES or t == 0:
            cap = sh * close
            names = [sec.abbr for sec in self.u.secs]  # the names and markets of the day
            self.snaps.append(
                (day, listed.copy(), close.copy(), prev_close.copy(), cap, traded, names)
            )
            self.snap_markets.append(self.u.market_id.copy())

    def finish(self) -> None:
        """Industries from the 2025 ratios, then the snapshot and investor files."""
        self._draw_industries()
        for snap, market_id in zip(self.snaps, self.snap_markets, strict=True):
            self._industry_files(*snap, market_id)
            self._theme_files(*snap)
        for (market, year), days in self.investors.items():
            for measure, k in (("volume", 1), ("value", 2)):
                out = [
                    {
                        "TRD_DD": f"{day:%Y/%m/%d}",
                        **{f"STR_CONST_VAL{j + 1}": fmt_int(v) for j, v in enumerate(row[k])},
                    }
                    for row in reversed(days)
                    for day in (row[0],)
                ]
                ds = DATASETS[f"short_investor_{measure}"]
                rel = landing_relpath(ds, dt.date(year, 1, 1), market)
                stamp = self.w._stamp(days[-1][0], rel)
                self.w._write(rel, orjson.dumps({"OutBlock_1": out, "CURRENT_DATETIME": stamp}))

    def _draw_industries(self) -> None:
        """The reported industries take tickers in turns, each the one that brings their mean
        2025 ratio nearest the reported figure (the groups then ranked as the figures are); the
        rest spread over the other industries."""
        u, rng = self.u, self.rng
        k = 1 if self.ratio_n[1].any() else 0  # a range without 2025: its own sessions
        has = u.is_common & (self.ratio_n[k] > 0)
        ratio = np.where(has, self.ratio_sum[k] / np.maximum(self.ratio_n[k], 1), np.nan)
        free = set(np.flatnonzero(has).tolist())
        size = max(4, int(_REPORTED_SHARE * has.sum()))
        picked: dict[int, list[int]] = {k: [] for k in REPORTED}
        for _ in range(size):  # in turns, so that the few heavily shorted names are shared
            for k, target in REPORTED.items():
                if not free:
                    break
                total, n = ratio[picked[k]].sum(), len(picked[k]) + 1
                i = min(free, key=lambda j: (abs((total + ratio[j]) / n - target), u.codes[j]))
                picked[k].append(i)
                free.discard(i)

        # the groups in the order of the reported figures, whatever the turns gave (a sector's
        # figure is the mean of its per-market means, as sector_short_balances has a row per
        # market)
        def sector_mean(members: list[int]) -> float:
            markets = u.market_id[members]
            return float(np.mean([ratio[members][markets == m].mean() for m in set(markets)]))

        groups = sorted(picked.values(), key=lambda members: -sector_mean(members))
        for k, members in zip(sorted(REPORTED, key=lambda k: -REPORTED[k]), groups, strict=True):
            self.industry[members] = k
        rest = self.industry < 0
        others = np.arange(len(REPORTED), len(INDUSTRIES))
        self.industry[rest] = rng.choice(others, size=int(rest.sum()))

    def _name(self, k: int, day: dt.date) -> str:
        return INDUSTRIES[k][sum(day >= r for r in RENAMES)]

    @staticmethod
    def _quote(i, close, prev_close, traded) -> dict:
        """Close and change of ticker ``i``; blank changes where it did not trade (KRX's form)."""
        c, pc = int(close[i]), int(prev_close[i])
        if not traded[i]:
            return {
                "TDD_CLSPRC": fmt_int(c),
                "FLUC_TP_CD": "",
                "CMPPREVDD_PRC": "-",
                "FLUC_RT": "-",
            }
        return {
            "TDD_CLSPRC": fmt_int(c),
            "FLUC_TP_CD": fluc(c - pc),
            "CMPPREVDD_PRC": fmt_int(c - pc),
            "FLUC_RT": fmt_signed_hundredths(signed_hundredths(c - pc, pc)),
        }

    def _industry_files(self, day, listed, close, prev_close, cap, traded, names, market_id):
        for m, market in enumerate(MARKETS):
            idx = np.flatnonzero(listed & (market_id == m)).tolist()
            rows = []
            for i in sorted(idx, key=lambda i: (names[i], self.u.codes[i])):
                q = self._quote(i, close, prev_close, traded)
                rows.append(
                    {
                        "ISU_SRT_CD": self.u.codes[i],
                        "ISU_ABBRV": names[i],
                        "MKT_TP_NM": market,
                        "IDX_IND_NM": self._name(int(self.industry[i]), day),
                        "TDD_CLSPRC": q["TDD_CLSPRC"],
                        "CMPPREVDD_PRC": q["CMPPREVDD_PRC"],
                        "FLUC_RT": q["FLUC_RT"],
                        "MKTCAP": fmt_int(int(cap[i])),
                        "FLUC_TP_CD": q["FLUC_TP_CD"],
                    }
                )
            rel = landing_relpath(DATASETS["sectors"], day, market)
            self.w._write(
                rel, orjson.dumps({"block1": rows, "CURRENT_DATETIME": self.w._stamp(day, rel)})
            )

    def _theme_files(self, day, listed, close, prev_close, cap, traded, names) -> None:
        for code in THEME_INDICES:
            industries, size = THEMES[code]
            idx = np.flatnonzero(listed & np.isin(self.industry, industries) & self.u.is_common)
            idx = idx[np.lexsort((idx, -cap[idx]))][:size].tolist()
            rows = []
            for i in idx:
                q = self._quote(i, close, prev_close, traded)
                rows.append(
                    {
                        "ISU_SRT_CD": self.u.codes[i],
                        "ISU_ABBRV": names[i],
                        "TDD_CLSPRC": q["TDD_CLSPRC"],
                        "FLUC_TP_CD": q["FLUC_TP_CD"],
                        "STR_CMP_PRC": q["CMPPREVDD_PRC"],
                        "FLUC_RT": q["FLUC_RT"],
                        "MKTCAP": fmt_int(int(cap[i])),
                        "IDX_ID": "",
                    }
                )
            rel = landing_relpath(DATASETS["theme_constituents"], day, code)
            self.w._write(
                rel, orjson.dumps({"output": rows, "CURRENT_DATETIME": self.w._stamp(day, rel)})
            )
