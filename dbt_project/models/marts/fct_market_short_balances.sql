-- Rebuilt on every run from the incremental daily market totals (about two rows per session),
-- so a one-session update costs the same as a full rebuild of this table and both stay cheap.
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

regimes as (

    select * from {{ ref('dim_short_sale_regimes') }}

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
        regimes.regime_id,
        regimes.scope as regime_scope
    from totals
    left join market_indices
        on
            totals.trade_date = market_indices.trade_date
            and totals.market = market_indices.index_code
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
        regime_id,
        regime_scope,
        regime_first_session,
        regime_start_balance_krw,
        100.0 * (total_balance_krw / nullif(regime_start_balance_krw, 0) - 1)
            as change_since_regime_start_pct,
        total_balance_krw >= regime_high_balance_krw as is_high_since_regime_start
    from regime_running

)

select * from final
