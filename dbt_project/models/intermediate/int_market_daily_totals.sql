-- Market totals per session from the ticker facts: one row per session and market that has a
-- balance file or a trading file. Incremental on the same window as the facts, so the
-- market-level mart above it can be rebuilt cheaply from about 2 rows per session.
with

balances as (

    {{ select_in_window(ref('fct_short_balances')) }}

),

trades as (

    {{ select_in_window(ref('fct_short_trades')) }}

),

balance_totals as (

    select
        trade_date,
        market,
        cast(sum(balance_qty) as bigint) as total_balance_qty,
        cast(sum(balance_krw) as bigint) as total_balance_krw,
        cast(sum(market_cap_krw) as bigint) as listed_market_cap_krw,
        count(*) as tickers_reported,
        cast(count_if(balance_qty > 0) as bigint) as tickers_with_balance,
        -- one rate per session, so the USD total is exact (no float sum in arbitrary order)
        max(usdkrw) as usdkrw,
        max(usdkrw_rate_date) as usdkrw_rate_date
    from balances
    group by trade_date, market

),

trade_totals as (

    select
        trade_date,
        market,
        cast(sum(short_volume) as bigint) as short_volume,
        cast(sum(total_volume) as bigint) as total_volume,
        cast(sum(short_value_krw) as bigint) as short_value_krw,
        cast(sum(short_value_exempt_krw) as bigint) as short_value_exempt_krw,
        cast(sum(total_value_krw) as bigint) as total_value_krw,
        count(*) as tickers_traded
    from trades
    group by trade_date, market

),

final as (

    select
        coalesce(balance_totals.trade_date, trade_totals.trade_date) as trade_date,
        coalesce(balance_totals.market, trade_totals.market) as market,
        balance_totals.trade_date is not null as has_balance_file,
        trade_totals.trade_date is not null as has_trading_file,
        balance_totals.total_balance_qty,
        balance_totals.total_balance_krw,
        balance_totals.total_balance_krw / balance_totals.usdkrw as total_balance_usd,
        balance_totals.listed_market_cap_krw,
        balance_totals.tickers_reported,
        balance_totals.tickers_with_balance,
        balance_totals.usdkrw,
        balance_totals.usdkrw_rate_date,
        trade_totals.short_volume,
        trade_totals.total_volume,
        trade_totals.short_value_krw,
        trade_totals.short_value_exempt_krw,
        trade_totals.total_value_krw,
        trade_totals.tickers_traded
    from balance_totals
    full outer join trade_totals
        on
            balance_totals.trade_date = trade_totals.trade_date
            and balance_totals.market = trade_totals.market

)

select * from final
