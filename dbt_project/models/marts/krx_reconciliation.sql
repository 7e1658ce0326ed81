-- The warehouse's figures against the ones KRX publishes itself, one row per compared figure:
-- top_short_balances against KRX's top 50 by balance ratio (MDCSTAT30801: the rank of each of
-- KRX's tickers, and its ratio), the computed 40-session statistics against KRX's top 50 by
-- short share (MDCSTAT30401), and the computed designations against KRX's list (MDCSTAT30901).
-- `passes` when the difference is within what KRX's rounding explains (`tolerance`); a row that
-- does not pass is a warning (dbt test, shown as a Dagster asset check).
with

balance_top50 as (

    select * from {{ ref('stg_krx__short_balance_top50s') }}

),

trading_top50 as (

    select * from {{ ref('stg_krx__short_trading_top50s') }}

),

top_balances as (

    select * from {{ ref('top_short_balances') }}

),

candidates as (

    select * from {{ ref('short_overheat_candidates') }}
    where
        trade_date in (select trading_top50.trade_date from trading_top50)
        or designation_type is not null

),

designations as (

    select * from {{ ref('short_overheat_designations') }}
    where designation_type is not null

),

-- Years KRX's designation list covers (a year with at least one designation loaded).
krx_years as (

    select distinct year(detected_on) as year from designations

),

-- Each ticker of KRX's balance top 50 beside the warehouse's ranking of it (null: not ranked).
balance_top50_compared as (

    select
        balance_top50.trade_date,
        balance_top50.market,
        balance_top50.ticker,
        balance_top50.krx_rank,
        balance_top50.reported_balance_ratio_pct,
        top_balances.rank as warehouse_rank,
        top_balances.balance_qty,
        top_balances.listed_shares
    from balance_top50
    left join top_balances
        on
            balance_top50.trade_date = top_balances.trade_date
            and balance_top50.market = top_balances.market
            and balance_top50.ticker = top_balances.ticker

),

-- KRX's rank of each ticker against the warehouse's; a ticker the warehouse ranks elsewhere or
-- not at all fails (tolerance 0: the same tickers in the same order).
balance_ranks as (

    select
        trade_date,
        market,
        'top50_balance_rank' as check_name,
        ticker,
        cast(krx_rank as double) as krx_value,
        cast(warehouse_rank as double) as warehouse_value,
        0.0 as tolerance,
        null as details
    from balance_top50_compared

),

-- KRX rounds the printed ratio twice (three decimals, then two): one unit of the last decimal.
balance_ratios as (

    select
        trade_date,
        market,
        'top50_balance_ratio_pct' as check_name,
        ticker,
        reported_balance_ratio_pct as krx_value,
        100.0 * balance_qty / nullif(listed_shares, 0) as warehouse_value,
        0.01 as tolerance,
        null as details
    from balance_top50_compared

),

-- KRX's printed statistics: shares, the price change and the multiple to two decimals (one
-- unit of the last decimal, as above); the share against its average is printed from unrounded
-- figures, so the warehouse's quotient of two rounded-looking inputs may differ by their
-- rounding propagated: 0.01 x (1 + ratio) / average share (an average printed as 0.00 bounds
-- nothing: then only the ratio's own rounding, 0.005).
trading_statistics as (

    select
        trading_top50.trade_date,
        trading_top50.market,
        statistic.check_name,
        trading_top50.ticker,
        statistic.krx_value,
        statistic.warehouse_value,
        statistic.tolerance,
        null as details
    from trading_top50
    left join candidates
        on
            trading_top50.trade_date = candidates.trade_date
            and trading_top50.ticker = candidates.ticker
    cross join lateral (
        values
        (
            'top50_short_share_pct',
            trading_top50.short_share_pct,
            candidates.short_share_pct,
            0.01
        ),
        (
            'top50_avg_short_share_40d_pct',
            trading_top50.avg_short_share_40d_pct,
            candidates.avg_short_share_40d_pct,
            0.01
        ),
        (
            'top50_short_share_to_avg',
            trading_top50.short_share_to_avg,
            candidates.short_share_to_avg,
            0.005 + coalesce(
                0.01 * (1 + trading_top50.short_share_to_avg)
                / nullif(trading_top50.avg_short_share_40d_pct, 0),
                0
            )
        ),
        (
            'top50_short_value_multiple',
            trading_top50.short_value_multiple,
            candidates.short_value_multiple,
            0.01
        ),
        (
            'top50_change_pct',
            trading_top50.change_pct,
            candidates.change_pct,
            0.01
        )
    ) as statistic (check_name, krx_value, warehouse_value, tolerance)

),

-- A designation the rule does not reproduce, or a computed one KRX did not make, in a year the
-- list covers; the candidate's inputs go with it.
designation_checks as (

    select
        coalesce(designations.detected_on, candidates.trade_date) as trade_date,
        coalesce(designations.market, candidates.market) as market,
        'designation_type' as check_name,
        coalesce(designations.ticker, candidates.ticker) as ticker,
        cast(designations.designation_type as double) as krx_value,
        cast(candidates.designation_type as double) as warehouse_value,
        0.0 as tolerance,
        'change_pct=' || coalesce(cast(round(candidates.change_pct, 2) as varchar), 'null')
        || ' share=' || coalesce(cast(round(candidates.short_share_pct, 2) as varchar), 'null')
        || ' avg_share_40d='
        || coalesce(cast(round(candidates.avg_short_share_40d_pct, 2) as varchar), 'null')
        || ' multiple='
        || coalesce(cast(round(candidates.short_value_multiple, 2) as varchar), 'null')
        || ' base=' || coalesce(cast(round(candidates.base_share_pct, 2) as varchar), 'null')
        || ' window_sessions=' || coalesce(cast(candidates.window_sessions as varchar), 'null')
            as details
    from designations
    full outer join candidates
        on
            designations.ticker = candidates.ticker
            and designations.detected_on = candidates.trade_date
    inner join krx_years
        on year(coalesce(designations.detected_on, candidates.trade_date)) = krx_years.year
    where designations.ticker is not null or candidates.designation_type is not null

),

checks as (

    select * from balance_ranks
    union all
    select * from balance_ratios
    union all
    select * from trading_statistics
    union all
    select * from designation_checks

),

final as (

    select
        trade_date,
        market,
        check_name,
        ticker,
        krx_value,
        warehouse_value,
        warehouse_value - krx_value as difference,
        tolerance,
        coalesce(abs(warehouse_value - krx_value) <= tolerance + 1e-9, false) as passes,
        details
    from checks

)

select * from final
