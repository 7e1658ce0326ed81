-- One observation of a ticker's name and market per session it appears in a daily KRX file.
-- The balance file is the primary source; the trading file fills sessions and markets without
-- a balance file (balances are published T+2). Incremental on the run window like the facts,
-- so dim_securities never re-reads the daily files' whole history.
with

balances as (

    {{ select_in_window(ref('stg_krx__short_balances')) }}

),

trades as (

    {{ select_in_window(ref('stg_krx__short_trades')) }}

),

balance_files as (

    select distinct
        trade_date,
        market
    from balances

),

from_balances as (

    select
        trade_date,
        ticker,
        name,
        market,
        'short_balance' as observed_in
    from balances

),

from_trades as (

    select
        trades.trade_date,
        trades.ticker,
        trades.name,
        trades.market,
        'short_trading' as observed_in
    from trades
    anti join balance_files
        on
            trades.trade_date = balance_files.trade_date
            and trades.market = balance_files.market

),

final as (

    select * from from_balances
    union all
    select * from from_trades

)

select * from final
