-- The 50 highest net short balances relative to listed shares per market and session, as on
-- KRX screen 33004. Only tickers with a balance (balance_qty > 0) are ranked; ties are broken
-- by balance_krw (descending), then ticker (ascending), so the ranking is deterministic.
with

balances as (

    select * from {{ ref('fct_short_balances') }}
    {% if is_incremental() %}
        where {{ in_window('trade_date') }}
    {% endif %}

),

ranked as (

    select
        trade_date,
        market,
        row_number() over (
            partition by trade_date, market
            order by balance_ratio_pct desc, balance_krw desc, ticker asc
        ) as rank,
        ticker,
        name,
        balance_qty,
        listed_shares,
        balance_krw,
        market_cap_krw,
        balance_ratio_pct,
        balance_usd
    from balances
    where balance_qty > 0

),

final as (

    select * from ranked
    where rank <= 50

)

select * from final
