with

balances as (

    select * from {{ ref('stg_krx__short_balances') }}
    {% if is_incremental() %}
        where {{ in_window('trade_date') }}
    {% endif %}

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

-- The last ECOS rate published on or before the session (null when none exists).
with_rates as (

    select
        balances.*,
        usdkrw_rates.usdkrw,
        usdkrw_rates.rate_date as usdkrw_rate_date
    from balances
    asof left join usdkrw_rates
        on balances.trade_date >= usdkrw_rates.rate_date

),

final as (

    select
        with_rates.trade_date,
        with_rates.ticker,
        with_rates.market,
        with_rates.name,
        with_rates.balance_qty,
        with_rates.listed_shares,
        with_rates.balance_krw,
        with_rates.market_cap_krw,
        with_rates.balance_ratio_pct,
        with_rates.market_cap_krw / nullif(with_rates.listed_shares, 0) as close_krw,
        with_rates.usdkrw,
        with_rates.usdkrw_rate_date,
        with_rates.balance_krw / with_rates.usdkrw as balance_usd,
        calendar.balance_published_on as published_on,
        with_rates.source_file
    from with_rates
    left join calendar
        on with_rates.trade_date = calendar.session_date

)

select * from final
