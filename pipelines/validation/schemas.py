"""pandera (polars backend) schemas: the rules of ``docs/contract.md`` (Validation), one schema
per dataset.

Every check carries an ``error`` that starts with a rule id (``rule_id: explanation``); the id is
what lands in ``raw.rejected_rows.check_name`` and in error messages. Frames are validated in
batches of many files: ``_file`` identifies the file, ``_row_number`` the record in it, and
``_period_start``/``_period_end`` the dates the file's name covers.
"""

from __future__ import annotations

from functools import cache

import pandera.polars as pa
import polars as pl

from pipelines.calendar import HISTORY_START, calendar_end, sessions_between
from pipelines.sources.datasets import DATASETS, MARKET_IDS, Dataset, Kind

TICKER_PATTERN = r"^[0-9A-Z]{6}$"
ISIN_PATTERN = r"^[A-Z]{2}[0-9A-Z]{9}[0-9]$"
RATIO_TOLERANCE = 0.005 + 1e-9  # KRX rounds ratios to two decimals
#: MDCSTAT30301: institutions, individuals, foreigners, others, and their total.
INVESTOR_COLUMNS = tuple(f"str_const_val{i}" for i in range(1, 6))
#: The four investor columns may each be rounded by one unit against the total.
INVESTOR_SUM_TOLERANCE = 4

_DTYPES = {
    Kind.TICKER: pl.Utf8,
    Kind.TEXT: pl.Utf8,
    Kind.INT: pl.Int64,
    Kind.FLOAT: pl.Float64,
    Kind.DATE: pl.Date,
}


def _rule(expr: pl.Expr, error: str) -> pa.Check:
    """A row-wise rule over several columns; rows where ``expr`` is false fail."""
    return pa.Check(lambda data: data.lazyframe.select(expr.fill_null(True)), error=error)


def _share(part: str, total: str) -> pl.Expr:
    return pl.col(part).cast(pl.Float64) / pl.col(total).cast(pl.Float64) * 100


def _ratio_consistent(
    part: str, total: str, ratio: str, tolerance: float = RATIO_TOLERANCE
) -> pl.Expr:
    return (
        pl.when(pl.col(total) > 0)
        .then((_share(part, total) - pl.col(ratio)).abs() <= tolerance)
        .otherwise(pl.col(ratio) == 0)
    )


def _one_close_price() -> pl.Expr:
    """BAL_AMT = qty x close and MKTCAP = listed x close for one close price."""
    lhs = pl.col("bal_amt").cast(pl.Float64) * pl.col("list_shrs").cast(pl.Float64)
    rhs = pl.col("mktcap").cast(pl.Float64) * pl.col("bal_qty").cast(pl.Float64)
    tolerance = pl.max_horizontal(lhs.abs(), rhs.abs()) * 1e-9 + 0.5
    return (lhs - rhs).abs() <= tolerance


def _ohlc_consistent() -> pl.Expr:
    """low <= open, close <= high on a day the ticker traded (KRX prints 0 for open, high and
    low when it did not)."""
    low, high = pl.col("tdd_lwprc"), pl.col("tdd_hgprc")
    prices = (pl.col("tdd_opnprc"), pl.col("tdd_clsprc"))
    within = pl.all_horizontal(*(low <= p for p in prices), *(p <= high for p in prices))
    return (pl.col("acc_trdvol") == 0) | within


def _investors_sum_to_total() -> pl.Expr:
    parts = pl.sum_horizontal(*(pl.col(c) for c in INVESTOR_COLUMNS[:4]))
    return (parts - pl.col(INVESTOR_COLUMNS[4])).abs() <= INVESTOR_SUM_TOLERANCE


def _short_market_echo() -> pl.Expr:
    """MKT_ID of the short-selling screens is the market code (STK/KSQ) of the file's folder,
    though the request asks with mktTpCd."""
    codes = {market: params["mktId"] for market, params in MARKET_IDS.items()}
    return pl.col("mkt_id") == pl.col("market").replace_strict(codes, default=None)


def _ranks_follow_file_order() -> pl.Expr:
    """RANK is 1, 2, 3... down the file, as KRX sends it."""
    return pl.col("rank") == pl.int_range(1, pl.len() + 1).over("_file")


def _in_file_period(column: str) -> pl.Expr:
    return pl.col(column).is_between(pl.col("_period_start"), pl.col("_period_end"))


def _ordered(column: str, descending: bool) -> pl.Expr:
    previous = pl.col(column).shift(1).over("_file")
    return (pl.col(column) < previous) if descending else (pl.col(column) > previous)


@cache
def _sessions() -> list:
    return sessions_between(HISTORY_START.replace(year=2000), calendar_end())


def _column_checks(kind: Kind) -> list[pa.Check]:
    if kind is Kind.TICKER:
        return [
            pa.Check.str_matches(TICKER_PATTERN, error="ticker_format: 6 characters of 0-9 and A-Z")
        ]
    return []


_NON_NEGATIVE = {
    "short_balance": ("bal_qty", "list_shrs", "bal_amt", "mktcap", "bal_rto"),
    "short_trading": (
        "cvsrtsell_trdvol",
        "uptickrule_appl_trdvol",
        "uptickrule_excpt_trdvol",
        "acc_trdvol",
        "trdvol_wt",
        "cvsrtsell_trdval",
        "uptickrule_appl_trdval",
        "uptickrule_excpt_trdval",
        "acc_trdval",
        "trdval_wt",
    ),
    "index_ohlcv": ("acc_trdvol", "acc_trdval", "mktcap"),
    "index_constituents": ("tdd_clsprc", "mktcap"),
    "theme_constituents": ("tdd_clsprc", "mktcap"),
    "securities": ("list_shrs",),
    "usdkrw": (),
    "stock_ohlcv": (
        "tdd_clsprc",
        "tdd_opnprc",
        "tdd_hgprc",
        "tdd_lwprc",
        "acc_trdvol",
        "acc_trdval",
        "mktcap",
        "list_shrs",
    ),
    "foreign_holdings": (
        "tdd_clsprc",
        "list_shrs",
        "forn_hd_qty",
        "forn_shr_rt",
        "forn_ord_lmt_qty",
        "forn_lmt_exhst_rt",
    ),
    "sectors": ("tdd_clsprc", "mktcap"),
    "short_investor_volume": INVESTOR_COLUMNS,
    "short_investor_value": INVESTOR_COLUMNS,
    "short_balance_top50": ("rank", "bal_qty", "list_shrs", "bal_amt", "mktcap", "bal_rto"),
    "short_trading_top50": (
        "rank",
        "cvsrtsell_trdval",
        "acc_trdval",
        "tdd_srtsell_wt",
        "tdd_srtsell_trdval_incdec_rt",
        "valu_pd_avg_srtsell_wt",
        "valu_pd_cmp_tdd_srtsell_rto",
    ),
    "short_overheat": (
        "valu_pd_tr_dys",
        "tdd_srtsell_wt",
        "tdd_srtsell_trdval_incdec_rt",
        "valu_pd_avg_srtsell_wt",
    ),
}

#: KRX's top-50 screens round their ratios twice (half-up to three decimals, then to two: 147 of
#: the 150 recorded ratios; all 150 within one unit of the last decimal of the exact ratio).
TOP50_RATIO_TOLERANCE = 0.01 + 1e-9

_TOP50_RULES = [
    (_short_market_echo(), "request_mismatch: MKT_ID differs from the market of the file's folder"),
    (_ranks_follow_file_order(), "rank_order: RANK must be 1, 2, 3... down the file"),
]

_INVESTOR_RULES = [
    (
        _investors_sum_to_total(),
        "investor_sum: STR_CONST_VAL1..4 do not add up to STR_CONST_VAL5 (the total)",
    ),
    (_in_file_period("trd_dd"), "date_outside_file: TRD_DD not in the file's year"),
    (
        _ordered("trd_dd", descending=True).fill_null(True),
        "date_order: TRD_DD must strictly decrease down the file, as KRX sends it",
    ),
]

_ROW_RULES: dict[str, list[tuple[pl.Expr, str]]] = {
    "short_balance": [
        (
            pl.col("bal_qty") <= pl.col("list_shrs"),
            "balance_above_listed_shares: BAL_QTY exceeds LIST_SHRS",
        ),
        (
            _ratio_consistent("bal_qty", "list_shrs", "bal_rto"),
            "ratio_inconsistent: BAL_RTO differs from BAL_QTY / LIST_SHRS x 100 beyond rounding",
        ),
        (
            _one_close_price(),
            "price_inconsistent: BAL_AMT / BAL_QTY and MKTCAP / LIST_SHRS imply different closes",
        ),
        (pl.col("bal_rto") <= 100, "ratio_range: BAL_RTO above 100"),
    ],
    "short_trading": [
        (
            pl.col("cvsrtsell_trdvol")
            == pl.col("uptickrule_appl_trdvol") + pl.col("uptickrule_excpt_trdvol"),
            "volume_split: CVSRTSELL_TRDVOL differs from uptick-rule + exempt volume",
        ),
        (
            pl.col("cvsrtsell_trdval")
            == pl.col("uptickrule_appl_trdval") + pl.col("uptickrule_excpt_trdval"),
            "value_split: CVSRTSELL_TRDVAL differs from uptick-rule + exempt value",
        ),
        (
            pl.col("cvsrtsell_trdvol") <= pl.col("acc_trdvol"),
            "short_above_total: short volume exceeds total volume",
        ),
        (
            pl.col("cvsrtsell_trdval") <= pl.col("acc_trdval"),
            "short_above_total: short value exceeds total value",
        ),
        (
            _ratio_consistent("cvsrtsell_trdvol", "acc_trdvol", "trdvol_wt"),
            "ratio_inconsistent: TRDVOL_WT differs from short / total volume x 100",
        ),
        (
            _ratio_consistent("cvsrtsell_trdval", "acc_trdval", "trdval_wt"),
            "ratio_inconsistent: TRDVAL_WT differs from short / total value x 100",
        ),
    ],
    "index_ohlcv": [
        (pl.col("clsprc_idx") > 0, "non_positive: CLSPRC_IDX must be above 0"),
        (pl.col("hgprc_idx") >= pl.col("lwprc_idx"), "high_below_low: HGPRC_IDX below LWPRC_IDX"),
        (_in_file_period("trd_dd"), "date_outside_file: TRD_DD not in the file's year"),
        (
            _ordered("trd_dd", descending=True).fill_null(True),
            "date_order: TRD_DD must strictly decrease down the file, as KRX sends it",
        ),
    ],
    "index_constituents": [],
    "theme_constituents": [],
    "securities": [],
    "stock_ohlcv": [
        (pl.col("tdd_clsprc") > 0, "non_positive: TDD_CLSPRC must be above 0"),
        (
            _ohlc_consistent(),
            "ohlc_inconsistent: TDD_LWPRC <= TDD_OPNPRC, TDD_CLSPRC <= TDD_HGPRC must hold",
        ),
        (
            pl.col("mktcap") == pl.col("tdd_clsprc") * pl.col("list_shrs"),
            "price_inconsistent: MKTCAP differs from TDD_CLSPRC x LIST_SHRS",
        ),
    ],
    "foreign_holdings": [
        (
            pl.col("forn_hd_qty") <= pl.col("list_shrs"),
            "foreign_above_listed_shares: FORN_HD_QTY exceeds LIST_SHRS",
        ),
        (
            pl.col("forn_ord_lmt_qty") <= pl.col("list_shrs"),
            "limit_above_listed_shares: FORN_ORD_LMT_QTY exceeds LIST_SHRS",
        ),
        (pl.col("forn_shr_rt") <= 100, "ratio_range: FORN_SHR_RT above 100"),
        (
            _ratio_consistent("forn_hd_qty", "list_shrs", "forn_shr_rt"),
            "ratio_inconsistent: FORN_SHR_RT differs from FORN_HD_QTY / LIST_SHRS x 100",
        ),
        (
            _ratio_consistent("forn_hd_qty", "forn_ord_lmt_qty", "forn_lmt_exhst_rt"),
            "ratio_inconsistent: FORN_LMT_EXHST_RT differs from FORN_HD_QTY / FORN_ORD_LMT_QTY"
            " x 100",
        ),
    ],
    "sectors": [],
    "short_investor_volume": _INVESTOR_RULES,
    "short_investor_value": _INVESTOR_RULES,
    "short_balance_top50": [
        *_TOP50_RULES,
        (
            _ratio_consistent("bal_qty", "list_shrs", "bal_rto", TOP50_RATIO_TOLERANCE),
            "ratio_inconsistent: BAL_RTO differs from BAL_QTY / LIST_SHRS x 100",
        ),
        (
            (pl.col("bal_qty") / pl.col("list_shrs"))
            <= (pl.col("bal_qty") / pl.col("list_shrs")).shift(1).over("_file"),
            "rank_inconsistent: BAL_QTY / LIST_SHRS must not rise down the ranking",
        ),
    ],
    "short_trading_top50": [
        *_TOP50_RULES,
        (
            pl.col("cvsrtsell_trdval") <= pl.col("acc_trdval"),
            "short_above_total: CVSRTSELL_TRDVAL exceeds ACC_TRDVAL",
        ),
        (
            _ratio_consistent(
                "cvsrtsell_trdval", "acc_trdval", "tdd_srtsell_wt", TOP50_RATIO_TOLERANCE
            ),
            "ratio_inconsistent: TDD_SRTSELL_WT differs from CVSRTSELL_TRDVAL / ACC_TRDVAL x 100",
        ),
    ],
    "short_overheat": [
        (
            pl.col("mktact_appl_dd") > pl.col("bas_dd"),
            "ban_not_after_detection: MKTACT_APPL_DD must follow BAS_DD",
        ),
        (
            pl.col("releas_dd") >= pl.col("mktact_appl_dd"),
            "release_before_ban: RELEAS_DD must not precede MKTACT_APPL_DD",
        ),
        (
            pl.col("mkt_id").is_in(["STK", "KSQ", "KNX"]),
            "market_code: MKT_ID must be STK, KSQ or KNX",
        ),
        (
            pl.col("srtsell_impsbl_dtec_tp_nm").str.contains("[1-4]|연장"),
            "designation_type: SRTSELL_IMPSBL_DTEC_TP_NM names neither a type 1 to 4 nor an "
            "extension (연장)",
        ),
        (_in_file_period("bas_dd"), "date_outside_file: BAS_DD not in the file's year"),
    ],
    "usdkrw": [
        (pl.col("stat_code") == "731Y001", "series_code: STAT_CODE must be 731Y001"),
        (pl.col("item_code1") == "0000001", "series_code: ITEM_CODE1 must be 0000001 (USD)"),
        (pl.col("data_value") > 0, "non_positive: DATA_VALUE must be above 0"),
        (_in_file_period("time"), "date_outside_file: TIME not in the file's year"),
        (
            _ordered("time", descending=False).fill_null(True),
            "date_order: TIME must strictly increase down the file, as ECOS sends it",
        ),
    ],
}


#: Rules on a file as a whole: an aggregate over its typed rows that must be true.
_FILE_RULES: dict[str, list[tuple[pl.Expr, str]]] = {
    "foreign_holdings": [
        (
            (pl.col("forn_ord_lmt_qty") == pl.col("list_shrs")).any(),
            "limited_only_answer: no ticker without a foreign-ownership limit "
            "(FORN_ORD_LMT_QTY = LIST_SHRS): this is KRX's isuLmtRto=1 answer (limited tickers "
            "only), the landing path means isuLmtRto=0 (every ticker)",
        )
    ],
}


def file_rules(name: str) -> list[tuple[pl.Expr, str]]:
    """The whole-file rules of a dataset: (aggregate expression, error)."""
    return _FILE_RULES.get(name, [])


def _echo_rules(dataset: Dataset) -> list[tuple[pl.Expr, str]]:
    """Each echo field equals the request parameter its file's folder stands for."""
    rules = []
    for source, param in dataset.echo_fields.items():
        asked = {seg: params[param] for seg, params in dataset.segment_params.items()}
        expected = pl.col(dataset.segment_column).replace_strict(asked, default=None)
        rules.append(
            (
                pl.col(source.lower()) == expected,
                f"request_mismatch: {source} differs from the {param} the file's folder asks for",
            )
        )
    return rules


@cache
def schema_for(name: str) -> pa.DataFrameSchema:
    """The pandera schema of one dataset's typed batch frame."""
    dataset = DATASETS[name]
    columns: dict[str, pa.Column] = {
        "_file": pa.Column(pl.Int32),
        "_row_number": pa.Column(pl.Int32),
    }
    for f in dataset.fields:
        checks = _column_checks(f.kind)
        if f.column in _NON_NEGATIVE[name]:
            checks.append(pa.Check.ge(0, error=f"negative_value: {f.source} must be >= 0"))
        columns[f.column] = pa.Column(_DTYPES[f.kind], checks=checks, nullable=f.nullable)
    if name == "securities":
        columns["isu_cd"] = pa.Column(
            pl.Utf8, pa.Check.str_matches(ISIN_PATTERN, error="isin_format: 12-character ISIN")
        )
    if dataset.row_date_field and dataset.folder.startswith("krx/"):  # KRX lists sessions only
        field = dataset.row_date_field
        columns[field.lower()] = pa.Column(
            pl.Date,
            pa.Check.isin(_sessions(), error=f"not_a_session: {field} is not a KRX session"),
        )
    rules = [*_ROW_RULES[name], *_echo_rules(dataset)]
    checks = [_rule(expr, error) for expr, error in rules]
    return pa.DataFrameSchema(
        columns,
        checks=checks,
        unique=["_file", *dataset.grain],
        report_duplicates="all",
        strict=False,
        coerce=False,
    )


def rule_id(check: str) -> str:
    """The rule id a pandera check string starts with."""
    if check in ("multiple_fields_uniqueness", "field_uniqueness"):
        return "duplicate_row: more than one row for the same key in one file"
    if check == "not_nullable":
        return "missing_value: required value is missing ('-' or empty)"
    if check.startswith("column_in_") or check.startswith("dtype("):
        return f"schema: {check}"
    return check
