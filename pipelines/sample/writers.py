"""File writers: every landing file, byte for byte in the form KRX and ECOS answer with (compact
JSON, UTF-8, every value a string), plus the ``SAMPLE_README.txt`` that says the data is invented.
"""

from __future__ import annotations

import datetime as dt
import zlib
from pathlib import Path

import numpy as np
import orjson

from pipelines.calendar import non_session_weekdays
from pipelines.sample.formats import (
    fluc,
    fmt_int,
    fmt_signed_hundredths,
    hundredths,
    hundredths_field,
    hundredths_of,
    int_field,
    isin_for,
    records,
    signed_hundredths,
    text_matrix,
    twice_rounded,
)
from pipelines.sample.market import usdkrw_values
from pipelines.sample.names import ENG_MARKER, NAME_MARKER, PREF
from pipelines.sample.universe import Universe
from pipelines.sources.datasets import DATASETS, MARKETS, landing_relpath
from pipelines.sources.datasets.codes import MARKET_IDS

README_NAME = "SAMPLE_README.txt"
#: Rows of KRX's top-50 screens.
TOP = 50

_BAL_SEPS = ('","LIST_SHRS":"', '","BAL_AMT":"', '","MKTCAP":"', '","BAL_RTO":"', '"},')
_TRD_SEPS = (
    '","UPTICKRULE_APPL_TRDVOL":"',
    '","UPTICKRULE_EXCPT_TRDVOL":"',
    '","ACC_TRDVOL":"',
    '","TRDVOL_WT":"',
    '","CVSRTSELL_TRDVAL":"',
    '","UPTICKRULE_APPL_TRDVAL":"',
    '","UPTICKRULE_EXCPT_TRDVAL":"',
    '","ACC_TRDVAL":"',
    '","TRDVAL_WT":"',
    '"},',
)


def _ranked(num: list[int], den: list[int], codes: list[str]) -> list[int]:
    """Positions by the exact ratio num / den, highest first, then code (KRX's top-50 order;
    scaled integers keep ratios of 15-digit figures apart)."""
    keys = [n * 10**32 // d for n, d in zip(num, den, strict=True)]
    return sorted(range(len(keys)), key=lambda k: (-keys[k], codes[k]))[:TOP]


def ecos_usdkrw_row(time: str, value: str) -> dict:
    """One ECOS 731Y001/0000001 (KRW per USD) row as the API sends it: the unused item columns
    are null, ``TIME`` is YYYYMMDD, ``DATA_VALUE`` a string."""
    return {
        "STAT_CODE": "731Y001",
        "STAT_NAME": "3.1.1.1. 주요국 통화의 대원화환율",
        "ITEM_CODE1": "0000001",
        "ITEM_NAME1": "원/미국달러(매매기준율)",
        "ITEM_CODE2": None,
        "ITEM_NAME2": None,
        "ITEM_CODE3": None,
        "ITEM_NAME3": None,
        "ITEM_CODE4": None,
        "ITEM_NAME4": None,
        "UNIT_NAME": "원",
        "WGT": None,
        "TIME": time,
        "DATA_VALUE": value,
    }


def ecos_body(rows: list[dict]) -> dict:
    """An ECOS StatisticSearch answer holding ``rows``."""
    return {"StatisticSearch": {"list_total_count": len(rows), "row": rows}}


class LandingWriter:
    """Writes under ``root`` and lists every landing path written (relative to the root)."""

    def __init__(self, root: Path, seed: int, universe: Universe):
        self.root, self.seed, self.u = Path(root), seed, universe
        self.timeline = universe.timeline
        self.files: list[str] = []
        #: per market, the text fields of the last session's files that other files repeat
        self.fields: dict[int, dict[str, np.ndarray]] = {}
        self._made_dirs: set[Path] = set()
        self._top_heads: dict[tuple, str] = {}
        prefixes = [self._prefixes(i) for i in range(universe.N)]
        self._bal_prefix = [p[0] for p in prefixes]
        self._trd_prefix = [p[1] for p in prefixes]

    def _write(self, relpath: str, body: str | bytes) -> None:
        path = self.root / relpath
        if path.parent not in self._made_dirs:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._made_dirs.add(path.parent)
        path.write_bytes(body.encode() if isinstance(body, str) else body)
        self.files.append(relpath)

    def _stamp(self, day: dt.date, relpath: str) -> str:
        """A KRX-style ``CURRENT_DATETIME`` on the evening of ``day`` (derived, not the clock)."""
        h = zlib.crc32(f"{self.seed}:{relpath}".encode())
        secs = 18 * 3600 + h % (4 * 3600)
        hh, rem = divmod(secs, 3600)
        mm, ss = divmod(rem, 60)
        return f"{day:%Y.%m.%d} PM {hh - 12:02d}:{mm:02d}:{ss:02d}"

    def _envelope(self, body: bytes, fetched: dt.date, relpath: str) -> bytes:
        stamp = self._stamp(fetched, relpath)
        return b'{"OutBlock_1":[' + body + f'],"CURRENT_DATETIME":"{stamp}"}}'.encode()

    def _prefixes(self, i: int) -> tuple[str, str]:
        sec = self.u.secs[i]
        head = f'{{"ISU_CD":"{sec.code}","ISU_ABBRV":{orjson.dumps(sec.abbr).decode()},'
        return (head + '"BAL_QTY":"', head + '"SECUGRP_NM":"주권","CVSRTSELL_TRDVOL":"')

    def renamed(self, i: int) -> None:
        """Refresh the cached row heads of security ``i`` after a rename."""
        self._bal_prefix[i], self._trd_prefix[i] = self._prefixes(i)

    def orders(self, listed: np.ndarray) -> list[tuple]:
        """Per market: the listed securities in KRX's row order (by name) and their row heads."""
        out = []
        for market in range(len(MARKETS)):
            idx = np.flatnonzero(listed & (self.u.market_id == market))
            secs = self.u.secs
            order = sorted(idx.tolist(), key=lambda i: (secs[i].abbr, secs[i].code))
            out.append(
                (
                    np.array(order, dtype=np.int64),
                    text_matrix([self._bal_prefix[i] for i in order]),
                    text_matrix([self._trd_prefix[i] for i in order]),
                )
            )
        return out

    def published(self, day: dt.date, dataset: str) -> dt.date | None:
        """The session KRX publishes ``dataset`` for ``day``; None when that is after the end
        of the range (the sample's "today"), so that no file exists before its publication."""
        published = self.timeline.published(day, DATASETS[dataset].publication_lag_sessions)
        return published if published <= self.timeline.end else None

    def daily(self, day, orders, qty, sh, close, vol, upt, exm) -> None:
        """The short-balance and short-trading files of ``day`` that are published by the end."""
        short = upt + exm
        cap = sh * close
        bal_amt = qty * close
        bal_published = self.published(day, "short_balance")
        for m, market in enumerate(MARKETS):
            idx, bal_head, trd_head = orders[m]
            q, s = qty[idx], sh[idx]
            rel = landing_relpath(DATASETS["short_balance"], day, market)
            shares_f, cap_f = int_field(s), int_field(cap[idx])
            body = records(
                bal_head,
                [
                    int_field(q),
                    shares_f,
                    int_field(bal_amt[idx]),
                    cap_f,
                    hundredths_field(hundredths(q, s)),
                ],
                _BAL_SEPS,
            )
            if bal_published is not None:
                self._write(rel, self._envelope(body, bal_published, rel))
                self._balance_top50(day, market, bal_published, idx[q > 0], qty, sh, close)
            v, sv, ua, ue, c = vol[idx], short[idx], upt[idx], exm[idx], close[idx]
            wt = hundredths_field(np.where(v > 0, hundredths(sv, np.maximum(v, 1)), 0))
            rel = landing_relpath(DATASETS["short_trading"], day, market)
            vol_f, val_f = int_field(v), int_field(v * c)
            body = records(
                trd_head,
                [
                    int_field(sv),
                    int_field(ua),
                    int_field(ue),
                    vol_f,
                    wt,
                    int_field(sv * c),
                    int_field(ua * c),
                    int_field(ue * c),
                    val_f,
                    wt,
                ],
                _TRD_SEPS,
            )
            self.fields[m] = {"shares": shares_f, "cap": cap_f, "vol": vol_f, "val": val_f}
            self._write(rel, self._envelope(body, day, rel))

    def _top_rows(self, idx, market: str, isin_field: str, tails: list[str]) -> bytes:
        """Rows of a top-50 screen: rank, codes, market and name of each of ``idx``, then its
        figures (``tails``, the JSON text after the name)."""
        secs, mkt_id, out = self.u.secs, MARKET_IDS[market]["mktId"], []
        for rank, (i, tail) in enumerate(zip(idx.tolist(), tails, strict=True), start=1):
            key = (i, isin_field, secs[i].abbr, market)
            head = self._top_heads.get(key)
            if head is None:
                head = self._top_heads[key] = (
                    f'"ISU_CD":"{secs[i].code}","{isin_field}":"{isin_for(secs[i].code)}",'
                    f'"MKT_ID":"{mkt_id}","ISU_ABBRV":{orjson.dumps(secs[i].abbr).decode()}'
                )
            out.append(f'{{"RANK":"{rank}",{head},{tail}}}')
        return ",".join(out).encode()

    def _balance_top50(self, day, market, published, idx, qty, sh, close) -> None:
        """KRX's top 50 by balance ratio (MDCSTAT30801) of ``day``, published with the
        balances."""
        if not len(idx):
            return
        q, s = qty[idx].tolist(), sh[idx].tolist()
        order = _ranked(q, s, [self.u.codes[i] for i in idx])
        c = close[idx].tolist()
        tails = [
            f'"BAL_QTY":"{q[k]:,}","LIST_SHRS":"{s[k]:,}","BAL_AMT":"{q[k] * c[k]:,}",'
            f'"MKTCAP":"{s[k] * c[k]:,}",'
            f'"BAL_RTO":"{fmt_signed_hundredths(twice_rounded(q[k], s[k]))}"'
            for k in order
        ]
        body = self._top_rows(idx[order], market, "ISU_CD2", tails)
        rel = landing_relpath(DATASETS["short_balance_top50"], day, market)
        self._write(rel, self._envelope(body, published, rel))

    def trading_top50(self, day, stats) -> None:
        """KRX's top 50 by short share of value (MDCSTAT30401) of ``day`` with KRX's 40-session
        statistics, drawn from the tickers the overheated rule assessed (``stats``)."""
        for m, market in enumerate(MARKETS):
            on = np.flatnonzero(self.u.market_id[stats.idx] == m)
            if not len(on):
                continue
            sv, v = stats.short_value[on].tolist(), stats.total_value[on].tolist()
            order = _ranked(sv, v, [self.u.codes[i] for i in stats.idx[on]])
            multiple, avg = stats.multiple[on].tolist(), stats.avg_share_pct[on].tolist()
            change = stats.change_h[on].tolist()
            tails = [
                f'"CVSRTSELL_TRDVAL":"{sv[k]:,}","ACC_TRDVAL":"{v[k]:,}",'
                f'"TDD_SRTSELL_WT":"{fmt_signed_hundredths(twice_rounded(sv[k], v[k]))}",'
                f'"TDD_SRTSELL_TRDVAL_INCDEC_RT":"{fmt_signed_hundredths(hundredths_of(multiple[k]))}",'
                f'"VALU_PD_AVG_SRTSELL_WT":"{fmt_signed_hundredths(hundredths_of(avg[k]))}",'
                '"VALU_PD_CMP_TDD_SRTSELL_RTO":"'
                f'{fmt_signed_hundredths(hundredths_of(100.0 * sv[k] / v[k] / avg[k]))}",'
                f'"PRC_YD":"{fmt_signed_hundredths(change[k])}"'
                for k in order
            ]
            body = self._top_rows(stats.idx[on][order], market, "ISU_CD_FULL", tails)
            rel = landing_relpath(DATASETS["short_trading_top50"], day, market)
            self._write(rel, self._envelope(body, day, rel))

    def overheat_lists(self, designations, first_day: dt.date) -> None:
        """KRX's designation list (MDCSTAT30901), one file per year from the rule's start,
        newest detection first; a year without designations is an empty list."""
        tl = self.timeline
        by_year: dict[int, list] = {}
        for day in tl.sessions:
            if day >= first_day:
                by_year.setdefault(day.year, [])
        for d in designations:
            day = tl.sessions[d.t]
            last = d.ban_sessions + d.extended
            by_year[day.year].append(
                {
                    "BAS_DD": f"{day:%Y/%m/%d}",
                    "MKTACT_APPL_DD": f"{tl.published(day, 1):%Y/%m/%d}",
                    "RELEAS_DD": f"{tl.published(day, last + 1):%Y/%m/%d}",
                    "ISU_CD": self.u.codes[d.i],
                    "ISU_CD_FULL": isin_for(self.u.codes[d.i]),
                    "MKT_ID": MARKET_IDS[d.market]["mktId"],
                    "VALU_PD_TR_DYS": str(d.window_sessions),
                    "TDD_SRTSELL_WT": fmt_signed_hundredths(
                        twice_rounded(d.short_value, d.total_value)
                    ),
                    "PRC_YD": fmt_signed_hundredths(d.change_h),
                    "TDD_SRTSELL_TRDVAL_INCDEC_RT": fmt_signed_hundredths(
                        hundredths_of(d.multiple)
                    ),
                    "VALU_PD_AVG_SRTSELL_WT": fmt_signed_hundredths(hundredths_of(d.avg_share_pct)),
                    "SRTSELL_IMPSBL_DTEC_TP_NM": f"{d.designation_type}유형",
                }
            )
        for year, rows in by_year.items():
            rows.sort(key=lambda r: (r["BAS_DD"], r["ISU_CD"]), reverse=True)
            rel = landing_relpath(DATASETS["short_overheat"], dt.date(year, 1, 1))
            last_session = max(d for d in tl.sessions if d.year == year)
            body = {"OutBlock_1": rows, "CURRENT_DATETIME": self._stamp(last_session, rel)}
            self._write(rel, orjson.dumps(body))

    def constituents(self, day, member, close, prev_close, cap, halted) -> dict[str, list[str]]:
        """Index constituent snapshots of ``day`` (by market cap); returns the members' codes."""
        snapshot = {}
        for index_code, mask in member.items():
            idx = np.flatnonzero(mask)
            idx = idx[np.lexsort((idx, -cap[idx]))].tolist()
            rows = []
            for i in idx:
                c, pc = int(close[i]), int(prev_close[i])
                if halted[i]:  # no trade: KRX leaves the change blank
                    fl, chg, rate = "", "-", "-"
                else:
                    fl = fluc(c - pc)
                    chg = fmt_int(c - pc)
                    rate = fmt_signed_hundredths(signed_hundredths(c - pc, pc))
                rows.append(
                    {
                        "ISU_SRT_CD": self.u.codes[i],
                        "ISU_ABBRV": self.u.secs[i].abbr,
                        "TDD_CLSPRC": fmt_int(c),
                        "FLUC_TP_CD": fl,
                        "STR_CMP_PRC": chg,
                        "FLUC_RT": rate,
                        "MKTCAP": fmt_int(int(cap[i])),
                        "IDX_ID": "",
                    }
                )
            rel = landing_relpath(DATASETS["index_constituents"], day, index_code)
            self._write(
                rel, orjson.dumps({"output": rows, "CURRENT_DATETIME": self._stamp(day, rel)})
            )
            snapshot[index_code] = sorted(self.u.codes[i] for i in idx)
        return snapshot

    def master(self, day: dt.date, listed: np.ndarray, shares: np.ndarray) -> None:
        """The securities master of ``day``: every listed security, by full name."""
        rows = []
        for i in np.flatnonzero(listed).tolist():
            s = self.u.secs[i]
            rows.append(
                {
                    "ISU_CD": isin_for(s.code),
                    "ISU_SRT_CD": s.code,
                    "ISU_NM": s.full_name,
                    "ISU_ABBRV": s.abbr,
                    "ISU_ENG_NM": s.eng_name,
                    "LIST_DD": f"{s.list_dd:%Y/%m/%d}",
                    "MKT_TP_NM": MARKETS[s.market],
                    "SECUGRP_NM": "주권",
                    "SECT_TP_NM": s.sect,
                    "KIND_STKCERT_TP_NM": PREF[s.pref][3] if s.pref else "보통주",
                    "PARVAL": s.parval,
                    "LIST_SHRS": fmt_int(int(shares[i])),
                }
            )
        rows.sort(key=lambda r: (r["ISU_NM"], r["ISU_SRT_CD"]))
        rel = landing_relpath(DATASETS["securities"], day)
        self._write(
            rel, orjson.dumps({"OutBlock_1": rows, "CURRENT_DATETIME": self._stamp(day, rel)})
        )

    def index_files(self, index_rows: dict[str, list]) -> None:
        """One file per index and year, newest session first like KRX."""
        for index_code, rows in index_rows.items():
            by_year: dict[int, list] = {}
            for row in rows:
                by_year.setdefault(row[0].year, []).append(row)
            for year, yrows in by_year.items():
                out = []
                for day, c, pc, o, h, lo, vol, val, cap in reversed(yrows):
                    out.append(
                        {
                            "TRD_DD": f"{day:%Y/%m/%d}",
                            "CLSPRC_IDX": fmt_signed_hundredths(c),
                            "FLUC_TP_CD": fluc(c - pc),
                            "PRV_DD_CMPR": fmt_signed_hundredths(c - pc),
                            "UPDN_RATE": fmt_signed_hundredths(signed_hundredths(c - pc, pc)),
                            "OPNPRC_IDX": fmt_signed_hundredths(o),
                            "HGPRC_IDX": fmt_signed_hundredths(h),
                            "LWPRC_IDX": fmt_signed_hundredths(lo),
                            "ACC_TRDVOL": fmt_int(vol),
                            "ACC_TRDVAL": fmt_int(val),
                            "MKTCAP": fmt_int(cap),
                        }
                    )
                rel = landing_relpath(DATASETS["index_ohlcv"], dt.date(year, 1, 1), index_code)
                self._write(
                    rel,
                    orjson.dumps(
                        {"output": out, "CURRENT_DATETIME": self._stamp(yrows[-1][0], rel)}
                    ),
                )

    def usdkrw(self, rng: np.random.Generator) -> None:
        """ECOS 731Y001/0000001, one file per year: sessions plus year-end closures (banks
        trade, KRX doesn't)."""
        extra = [
            d
            for d in non_session_weekdays(self.timeline.start, self.timeline.end)
            if d.month == 12 and d.day >= 29
        ]
        days = sorted(set(self.timeline.sessions) | set(extra))
        rows_by_year: dict[int, list] = {}
        for day, value in usdkrw_values(days, rng):
            rows_by_year.setdefault(day.year, []).append(ecos_usdkrw_row(f"{day:%Y%m%d}", value))
        for year, rows in rows_by_year.items():
            rel = landing_relpath(DATASETS["usdkrw"], dt.date(year, 1, 1))
            self._write(rel, orjson.dumps(ecos_body(rows)))

    def readme(self, scale: str) -> None:
        sessions = self.timeline.sessions
        text = (
            "SYNTHETIC SAMPLE DATA - NOT REAL MARKET DATA\n"
            "\n"
            "Every file under this directory was written by krx-short's sample generator\n"
            "(pipelines/sample/generator.py) in the formats of the KRX data portal and the Bank\n"
            "of Korea ECOS API. Companies, tickers, prices, balances and exchange rates are\n"
            "invented. Korean names carry the marker "
            f"{NAME_MARKER}; English names end in {ENG_MARKER}.\n"
            "\n"
            f"seed: {self.seed}\nscale: {scale}\n"
            f"sessions: {sessions[0]} .. {sessions[-1]} ({len(sessions)})\n"
            "\n"
            "Readers of the landing zone ignore this file.\n"
        )
        (self.root / README_NAME).write_text(text, encoding="utf-8")
