with

balances as (

    {{ select_in_window(ref('stg_krx__short_balances')) }}

),

calendar as (

    select
        session_date,
        balance_published_on
    from {{ ref('dim_trading_calendar') }}

),

usdkrw_rates as (

    select
        rate_date,
        usdkrw
    from {{ ref('stg_ecos__usdkrw_rates') }}
    where usdkrw is not null

),

-- Per session (a few thousand rows, not one per ticker-day): the last ECOS rate published on or
-- before it (null when none exists) and the day KRX publishes its balances.
sessions as (

    select distinct trade_date from balances

),

session_context as (

    select
        sessions.trade_date,
        usdkrw_rates.usdkrw,
        usdkrw_rates.rate_date as usdkrw_rate_date,
        calendar.balance_published_on
    from sessions
    asof left join usdkrw_rates
        on sessions.trade_date >= usdkrw_rates.rate_date
    left join calendar
        on sessions.trade_date = calendar.session_date

),

final as (

    select
        balances.trade_date,
        balances.ticker,
        balances.market,
        balances.name,
        balances.balance_qty,
        balances.listed_shares,
        balances.balance_krw,
        balances.market_cap_krw,
        balances.balance_ratio_pct,
        balances.market_cap_krw / nullif(balances.listed_shares, 0) as close_krw,
        session_context.usdkrw,
        session_context.usdkrw_rate_date,
        balances.balance_krw / session_context.usdkrw as balance_usd,
        session_context.balance_published_on as published_on,
        balances.source_file
    from balances
    left join session_context
        on balances.trade_date = session_context.trade_date

)

select * from final
