with

balances as (

    {{ select_in_window(ref('fct_short_balances')) }}

),

trades as (

    {{ select_in_window(ref('fct_short_trades')) }}

),

sectors as (

    select * from {{ ref('dim_security_sectors') }}

),

in_sector as (

    select
        balances.trade_date,
        balances.market,
        sectors.classification,
        sectors.sector,
        balances.ticker,
        balances.balance_qty,
        balances.balance_krw,
        balances.market_cap_krw,
        balances.balance_ratio_pct,
        trades.short_value_krw,
        trades.total_value_krw
    from balances
    inner join sectors
        on
            balances.ticker = sectors.ticker
            and (sectors.market is null or balances.market = sectors.market)
            and balances.trade_date >= sectors.valid_from
            and (sectors.valid_to is null or balances.trade_date < sectors.valid_to)
    left join trades
        on
            balances.trade_date = trades.trade_date
            and balances.ticker = trades.ticker

),

final as (

    select
        trade_date,
        market,
        classification,
        sector,
        count(*) as tickers,
        count(*) filter (where balance_qty > 0) as tickers_with_balance,
        cast(sum(balance_krw) as bigint) as total_balance_krw,
        cast(sum(market_cap_krw) as bigint) as market_cap_krw,
        100.0 * sum(balance_krw) / nullif(sum(market_cap_krw), 0) as balance_to_market_cap_pct,
        -- a decimal sum, exact whatever the order DuckDB adds the rows in
        cast(avg(cast(balance_ratio_pct as decimal(38, 12))) as double) as mean_balance_ratio_pct,
        cast(sum(short_value_krw) as bigint) as short_value_krw,
        cast(sum(total_value_krw) as bigint) as total_value_krw,
        100.0 * sum(short_value_krw) / nullif(sum(total_value_krw), 0) as short_value_share_pct
    from in_sector
    group by trade_date, market, classification, sector

)

select * from final
