-- The 50 highest net short balances relative to listed shares per market and session, in the
-- order of KRX screen 33004: by the exact ratio balance_qty / listed_shares (KRX's rounded
-- BAL_RTO ties and misorders), then ticker. Only tickers with a balance (balance_qty > 0) and
-- a share count (listed_shares > 0) are ranked.
with

balances as (

    {{ select_in_window(ref('fct_short_balances')) }}

),

ratios as (

    select
        *,
        100.0 * balance_qty / listed_shares as exact_balance_ratio_pct,
        -- The ratio compared exactly: as doubles, ratios of ten-digit share counts can round
        -- to one value. Scaled by 10^25 and floored, distinct ratios of counts below 10^10
        -- (they differ by at least 10^-20) stay distinct, within hugeint's range.
        (balance_qty::hugeint * 10000000000000000000000000) // listed_shares as ratio_key
    from balances
    where balance_qty > 0 and listed_shares > 0

),

ranked as (

    select
        trade_date,
        market,
        row_number() over (
            partition by trade_date, market
            order by ratio_key desc, ticker asc
        ) as rank,
        ticker,
        name,
        balance_qty,
        listed_shares,
        balance_krw,
        market_cap_krw,
        balance_ratio_pct,
        balance_usd,
        exact_balance_ratio_pct
    from ratios

),

final as (

    select * from ranked
    where rank <= 50

)

select * from final
