{{ config(materialized='view') }}

-- One observation of a ticker's name and market per day it appears in a daily KRX file
-- (balance or trading) or in a securities-master snapshot. When several sources report the same
-- ticker on the same day, the balance file wins, then the trading file, then the master.
with

balances as (

    select
        ticker,
        trade_date as observed_on,
        name,
        market,
        1 as source_priority,
        'short_balance' as observed_in
    from {{ ref('stg_krx__short_balances') }}

),

trades as (

    select
        ticker,
        trade_date as observed_on,
        name,
        market,
        2 as source_priority,
        'short_trading' as observed_in
    from {{ ref('stg_krx__short_trades') }}

),

master as (

    select
        ticker,
        snapshot_date as observed_on,
        name,
        market,
        3 as source_priority,
        'securities_master' as observed_in
    from {{ ref('stg_krx__securities') }}

),

unioned as (

    select * from balances
    union all
    select * from trades
    union all
    select * from master

),

final as (

    select
        ticker,
        observed_on,
        name,
        market,
        observed_in
    from unioned
    qualify row_number() over (
        partition by ticker, observed_on
        order by source_priority
    ) = 1

)

select * from final
