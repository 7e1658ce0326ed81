-- Rebuilt on every run from the incremental daily market totals (about two rows per session),
-- so a one-session update costs the same as a full rebuild of this table and both stay cheap.
-- The figures since the regime's start begin at the first session the warehouse holds; whether
-- that is the regime's own first KRX session is in has_regime_start. usdkrw_age_sessions counts
-- the sessions between the rate's day and the session (a rate older than 3 is stale).
with

totals as (

    select * from {{ ref('int_market_daily_totals') }}
    where has_balance_file

),

market_indices as (

    select
        trade_date,
        index_code,
        close,
        change_pct,
        market_cap_krw
    from {{ ref('fct_index_levels') }}
    where index_code in ('KOSPI', 'KOSDAQ')

),

calendar as (

    select
        session_date,
        session_number
    from {{ ref('dim_trading_calendar') }}

),

calendar_start as (

    select min(session_date) as first_session from calendar

),

-- Each regime's first KRX session; null for a regime that began before the calendar does.
regimes as (

    select
        dim_short_sale_regimes.*,
        min(calendar.session_date) as regime_start_session
    from {{ ref('dim_short_sale_regimes') }} as dim_short_sale_regimes
    cross join calendar_start
    left join calendar
        on
            dim_short_sale_regimes.starts_on <= calendar.session_date
            and (
                dim_short_sale_regimes.ends_on is null
                or dim_short_sale_regimes.ends_on >= calendar.session_date
            )
            and dim_short_sale_regimes.starts_on > calendar_start.first_session
    group by all

),

-- The session position of each rate day (the last session on or before it).
rate_sessions as (

    select
        rate_days.usdkrw_rate_date,
        calendar.session_number as rate_session_number
    from (select distinct usdkrw_rate_date from totals) as rate_days
    asof inner join calendar
        on rate_days.usdkrw_rate_date >= calendar.session_date

),

joined as (

    select
        totals.trade_date,
        totals.market,
        totals.total_balance_qty,
        totals.total_balance_krw,
        totals.total_balance_usd,
        market_indices.market_cap_krw,
        totals.tickers_reported,
        totals.tickers_with_balance,
        totals.short_value_krw,
        totals.total_value_krw,
        market_indices.close as index_close,
        market_indices.change_pct as index_change_pct,
        totals.usdkrw,
        totals.usdkrw_rate_date,
        session_day.session_number - rate_sessions.rate_session_number as usdkrw_age_sessions,
        regimes.regime_id,
        regimes.scope as regime_scope,
        regimes.regime_start_session
    from totals
    left join market_indices
        on
            totals.trade_date = market_indices.trade_date
            and totals.market = market_indices.index_code
    left join calendar as session_day
        on totals.trade_date = session_day.session_date
    left join rate_sessions
        on totals.usdkrw_rate_date = rate_sessions.usdkrw_rate_date
    left join regimes
        on
            totals.trade_date >= regimes.starts_on
            and (regimes.ends_on is null or totals.trade_date <= regimes.ends_on)

),

regime_running as (

    select
        *,
        first_value(trade_date) over since_regime_start as regime_first_session,
        first_value(total_balance_krw) over since_regime_start as regime_start_balance_krw,
        max(total_balance_krw) over since_regime_start as regime_high_balance_krw
    from joined
    window since_regime_start as (
        partition by market, regime_id
        order by trade_date
        rows between unbounded preceding and current row
    )

),

final as (

    select
        trade_date,
        market,
        total_balance_qty,
        total_balance_krw,
        total_balance_usd,
        market_cap_krw,
        100.0 * total_balance_krw / nullif(market_cap_krw, 0) as balance_to_market_cap_pct,
        tickers_reported,
        tickers_with_balance,
        short_value_krw,
        total_value_krw,
        100.0 * short_value_krw / nullif(total_value_krw, 0) as short_value_share_pct,
        index_close,
        index_change_pct,
        usdkrw,
        usdkrw_rate_date,
        usdkrw_age_sessions,
        usdkrw_age_sessions > 3 as is_usdkrw_stale,
        regime_id,
        regime_scope,
        regime_first_session,
        coalesce(regime_first_session = regime_start_session, false) as has_regime_start,
        regime_start_balance_krw,
        100.0 * (total_balance_krw / nullif(regime_start_balance_krw, 0) - 1)
            as change_since_regime_start_pct,
        total_balance_krw >= regime_high_balance_krw as is_high_since_regime_start
    from regime_running

)

select * from final
