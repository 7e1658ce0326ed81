"""A deterministic, synthetic KRX/ECOS landing zone.

``generate(root, start, end, seed=7, scale="demo")`` writes, for every XKRX session in
``[start, end]``, the files a real fetch would have written, byte for byte in the formats KRX and
ECOS answer with (compact JSON, UTF-8, every value a string with thousands separators), and
returns a :class:`~pipelines.sample.truth.SampleTruth` that tests compare the warehouse against.

The market is invented but follows the real rules that the warehouse has to get right:

* the short-sale regime calendar of :mod:`pipelines.regimes`: balances grow and shrink only where
  new short positions were allowed on that day (all listed stocks, or only KOSPI 200 / KOSDAQ 150
  members), and elsewhere decay towards zero; during bans only the market-maker exemption trades
  (:mod:`~pipelines.sample.regime`);
* KOSPI 200 / KOSDAQ 150 membership that changes only at the regular June/December rebalances
  or by an ad-hoc change (a member delisted, a member moving from KOSDAQ to KOSPI)
  (:mod:`~pipelines.sample.membership`);
* listings, delistings, renames, a KOSDAQ -> KOSPI transfer, trading halts, preferred shares with
  alphanumeric codes (``12345K``) and new-style codes (``0123T0``)
  (:mod:`~pipelines.sample.universe`);
* exact arithmetic: ``BAL_AMT = BAL_QTY x close``, ``MKTCAP = LIST_SHRS x close``, ratios rounded
  to two decimals (never an exact half, so every rounding rule agrees), index market caps equal to
  the sum of their members' market caps (:mod:`~pipelines.sample.market`);
* KRX's overheated short-selling rule, run as the sessions are generated from the rule's seed,
  with sharp drops and short bursts planted so that every type of every version in force while
  shorting is allowed fires; no short trading on ban days; KRX's designation list and its top-50
  screens by balance ratio and by short share agree with it (:mod:`~pipelines.sample.overheat`);
* the publication calendar: the end of the range is the sample's "today", so the balances of its
  last two sessions (published on T+2) are not there yet (:mod:`~pipelines.sample.writers`).

Its aggregates follow the real market: caps and USD/KRW track the 2020-2025 path, one KOSPI
giant holds about a fifth of KOSPI, and the market short ratios land near KRX's totals of
2025-03-31 and 2025-07-09 (:mod:`~pipelines.sample.calibration`).

Everything is derived from the seed: no clock, no hash ordering. Every company name is invented
and carries the marker ``(샘플)`` ("sample"); English names end in ``(SYNTHETIC)``; the landing
root gets a ``SAMPLE_README.txt`` that says so.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from pipelines.sample.beside import Beside
from pipelines.sample.market import IndexLevels, Market, index_masks, tick_round
from pipelines.sample.membership import Membership
from pipelines.sample.overheat import Overheat
from pipelines.sample.regime import ShortBehaviour, eligible
from pipelines.sample.timeline import Timeline
from pipelines.sample.truth import SampleTruth, build_truth
from pipelines.sample.universe import SCALES, Universe
from pipelines.sample.writers import README_NAME, LandingWriter, ecos_body, ecos_usdkrw_row

__all__ = ["README_NAME", "ecos_body", "ecos_usdkrw_row", "generate"]


def generate(
    root: Path, start: dt.date, end: dt.date, *, seed: int = 7, scale: str = "demo"
) -> SampleTruth:
    """Write a synthetic landing zone for the sessions in ``[start, end]`` under ``root``.

    Files that already exist at the same paths are overwritten; nothing else under ``root`` is
    touched. The same arguments always give the same bytes.
    """
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r} (expected one of {', '.join(SCALES)})")
    if seed < 0:
        raise ValueError("seed must be a non-negative integer")
    timeline = Timeline(start, end)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    # One stream per concern; the order of the draws inside each stream fixes the bytes.
    rng_u = np.random.default_rng([seed, 0])  # universe and schedule
    rng = np.random.default_rng([seed, 1])  # the session loop
    rng_m = np.random.default_rng([seed, 2])  # index decisions and index OHLC
    rng_x = np.random.default_rng([seed, 3])  # USD/KRW
    rng_b = np.random.default_rng([seed, 4])  # the datasets beside the balances
    rng_o = np.random.default_rng([seed, 5])  # planted overheated designations
    universe = Universe(timeline, SCALES[scale], rng_u)
    market = Market(universe, rng_u)
    behaviour = ShortBehaviour(universe, rng_u)
    universe.draw_halts(rng_u)
    membership = Membership(universe, rng_m)
    writer = LandingWriter(root, seed, universe)
    beside = Beside(writer, universe, rng_b)
    overheat = Overheat(universe, membership.member, rng_o)
    _run_sessions(universe, market, behaviour, membership, overheat, writer, beside, rng, rng_m)
    beside.finish()
    writer.overheat_lists(overheat.designations, min(r.starts_on for r in overheat.rules))
    writer.usdkrw(rng_x)
    writer.readme(scale)
    return build_truth(seed, scale, universe, membership, overheat, writer.files)


def _run_sessions(
    universe, market, behaviour, membership, overheat, writer, beside, rng, rng_m
) -> None:
    """Every session in order: events, prices, shares, membership, balances, trades, the
    overheated rule, files."""
    tl, N = universe.timeline, universe.N
    T = tl.T
    master_ts = {
        max(t for t, d in enumerate(tl.sessions) if d.year == y)
        for y in {d.year for d in tl.sessions}
    } | {T - 1}
    levels = IndexLevels(rng_m)
    close_prev = tick_round(market.p)
    shares_prev = market.shares.copy()
    listed_prev = universe.listed_from == 0  # the initial universe, priced before the start
    market_prev = universe.market_id.copy()
    orders = None
    for t, day in enumerate(tl.sessions):
        for i in universe.apply_events(t, day):
            writer.renamed(i)
        listed = universe.listed(t)
        new_today = (universe.listed_from == t) if t > 0 else np.zeros(N, dtype=bool)
        halted = universe.halted[t] & listed
        cap_prev = (close_prev * shares_prev).astype(np.float64)
        market_caps = [cap_prev[listed_prev & (market_prev == m)].sum() for m in (0, 1)]
        close, prev_close = market.step_prices(day, rng, halted, new_today, close_prev, market_caps)
        sh = market.step_shares(rng, listed, new_today)
        changed = membership.update(t, listed, cap_prev, behaviour.qty)
        elig = eligible(tl.scopes[t], listed, universe.market_id, membership.member)
        elig &= ~overheat.banned(t)
        qty = behaviour.step_balances(
            t, tl.scopes[t], rng, elig, listed, halted, new_today, sh, close
        )
        vol = market.volume(rng, sh, new_today, halted, listed)
        upt, exm = behaviour.short_volume(rng, vol, elig)
        drawn = close.copy()
        stats = overheat.session(
            t, day, elig, listed, halted, new_today, close, prev_close, vol, upt, exm
        )
        planted = close != drawn
        market.p[planted] = close[planted]
        if orders is None or t in universe.event_ts:
            orders = writer.orders(listed)
        writer.daily(day, orders, qty, sh, close, vol, upt, exm)
        writer.trading_top50(day, stats)
        beside.session(t, day, orders, listed, qty, sh, close, prev_close, vol, upt + exm)
        cap = sh * close
        masks = index_masks(membership.member, listed, listed_prev, universe.market_id, market_prev)
        levels.step(day, masks, close, prev_close, sh, vol, vol * close, cap)
        if changed or t in tl.month_first or t in tl.rebalance_set:
            snapshot = writer.constituents(day, membership.member, close, prev_close, cap, halted)
            for index_code, codes in snapshot.items():
                membership.snapshots[index_code][day] = codes
        if t in master_ts:
            writer.master(day, listed, market.shares)
        if writer.published(day, "short_balance"):
            membership.track_residuals(t, listed, qty)
        close_prev, shares_prev, listed_prev = close, sh.copy(), listed
        market_prev = universe.market_id.copy()
    writer.index_files(levels.rows)
