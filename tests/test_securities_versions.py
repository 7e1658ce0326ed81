"""dim_securities on the sample: the name and market versions of the generator's truth."""

from __future__ import annotations

from collections import defaultdict

from tests.helpers import rows


def test_sample_securities_scd2_matches_truth(sample):
    wh, truth = sample
    versions = defaultdict(list)
    for ticker, valid_from, name, market in rows(
        wh.db,
        "select ticker, valid_from, name, market from marts.dim_securities order by all",
    ):
        versions[ticker].append((valid_from, name, market))
    assert set(versions) == set(truth.securities)
    for ticker, sec in truth.securities.items():
        changes = sorted({d for d, _ in sec.names} | {d for d, _ in sec.markets})
        expected = []
        for day in changes:
            version = (
                [n for d, n in sec.names if d <= day][-1],
                [m for d, m in sec.markets if d <= day][-1],
            )
            if not expected or expected[-1][1:] != version:
                expected.append((day, *version))
        assert versions[ticker] == expected, ticker
    assert truth.renames and truth.market_changes
