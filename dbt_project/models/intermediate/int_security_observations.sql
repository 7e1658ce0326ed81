-- One observation of a ticker's name and market per day it appears in a daily KRX file or in a
-- securities-master snapshot. The balance file is the primary daily source; the trading file
-- fills sessions and markets without a balance file (balances are published T+2), and a master
-- snapshot counts only on days no daily file shows the ticker.
with

balances as (

    select
        ticker,
        trade_date as observed_on,
        name,
        market,
        'short_balance' as observed_in
    from {{ ref('stg_krx__short_balances') }}

),

balance_files as (

    select distinct
        trade_date,
        market
    from {{ ref('stg_krx__short_balances') }}

),

trades as (

    select
        trades.ticker,
        trades.trade_date as observed_on,
        trades.name,
        trades.market,
        'short_trading' as observed_in
    from {{ ref('stg_krx__short_trades') }} as trades
    anti join balance_files
        on
            trades.trade_date = balance_files.trade_date
            and trades.market = balance_files.market

),

daily as (

    select * from balances
    union all
    select * from trades

),

master as (

    select
        securities.ticker,
        securities.snapshot_date as observed_on,
        securities.name,
        securities.market,
        'securities_master' as observed_in
    from {{ ref('stg_krx__securities') }} as securities
    anti join daily
        on
            securities.ticker = daily.ticker
            and securities.snapshot_date = daily.observed_on

),

final as (

    select * from daily
    union all
    select * from master

)

select * from final
