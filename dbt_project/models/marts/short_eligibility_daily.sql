with

balance_tickers as (

    select
        trade_date,
        ticker,
        market,
        name
    from {{ ref('fct_short_balances') }}
    {% if is_incremental() %}
        where {{ in_window('trade_date') }}
    {% endif %}

),

trade_tickers as (

    select
        trade_date,
        ticker,
        market,
        name
    from {{ ref('fct_short_trades') }}
    {% if is_incremental() %}
        where {{ in_window('trade_date') }}
    {% endif %}

),

regimes as (

    select * from {{ ref('dim_short_sale_regimes') }}

),

memberships as (

    select * from {{ ref('dim_index_memberships') }}

),

designations as (

    select * from {{ ref('short_overheat_designations') }}

),

calendar as (

    select session_date from {{ ref('dim_trading_calendar') }}
    {% if is_incremental() %}
        where {{ in_window('session_date') }}
    {% endif %}

),

-- Sessions KRX banned short selling in a ticker it designated overheated.
overheat_bans as (

    select distinct
        designations.ticker,
        calendar.session_date as trade_date
    from designations
    inner join calendar
        on calendar.session_date between designations.ban_on and designations.last_ban_on

),

-- Membership is known from the first constituent snapshot of an index on.
index_coverage as (

    select
        index_code,
        min(valid_from) as first_snapshot_date
    from memberships
    group by index_code

),

-- Every ticker with a balance or a trading row that session; the balance file's market and
-- name win where both have one.
tickers as (

    select
        coalesce(balance_tickers.trade_date, trade_tickers.trade_date) as trade_date,
        coalesce(balance_tickers.ticker, trade_tickers.ticker) as ticker,
        coalesce(balance_tickers.market, trade_tickers.market) as market,
        coalesce(balance_tickers.name, trade_tickers.name) as name,
        case coalesce(balance_tickers.market, trade_tickers.market)
            when 'KOSPI' then 'KOSPI200'
            when 'KOSDAQ' then 'KOSDAQ150'
        end as index_code
    from balance_tickers
    full outer join trade_tickers
        on
            balance_tickers.trade_date = trade_tickers.trade_date
            and balance_tickers.ticker = trade_tickers.ticker

),

-- The regime of each session, matched once per session rather than once per ticker-day.
session_regimes as (

    select
        sessions.trade_date,
        regimes.regime_id,
        regimes.scope
    from (select distinct trade_date from tickers) as sessions
    inner join regimes
        on
            sessions.trade_date >= regimes.starts_on
            and (regimes.ends_on is null or sessions.trade_date <= regimes.ends_on)

),

classified as (

    select
        tickers.trade_date,
        tickers.ticker,
        tickers.market,
        tickers.name,
        session_regimes.regime_id,
        session_regimes.scope,
        tickers.index_code,
        case
            when
                index_coverage.first_snapshot_date is null
                or tickers.trade_date < index_coverage.first_snapshot_date
                then null
            else memberships.ticker is not null
        end as is_index_member,
        overheat_bans.ticker is not null as is_overheat_banned
    from tickers
    left join session_regimes
        on tickers.trade_date = session_regimes.trade_date
    left join index_coverage
        on tickers.index_code = index_coverage.index_code
    left join memberships
        on
            tickers.index_code = memberships.index_code
            and tickers.ticker = memberships.ticker
            and tickers.trade_date >= memberships.valid_from
            and (memberships.valid_to is null or tickers.trade_date < memberships.valid_to)
    left join overheat_bans
        on
            tickers.ticker = overheat_bans.ticker
            and tickers.trade_date = overheat_bans.trade_date

),

final as (

    select
        trade_date,
        ticker,
        market,
        name,
        regime_id,
        scope,
        is_index_member,
        index_code,
        is_overheat_banned,
        case
            when scope <> 'market_makers_only' and is_overheat_banned then false
            when scope = 'all_listed' then true
            when scope = 'market_makers_only' then false
            when scope = 'index_constituents' then is_index_member
        end as is_eligible,
        case
            when scope <> 'market_makers_only' and is_overheat_banned
                then 'designated overheated (short selling banned this session)'
            when scope = 'all_listed'
                then 'all listed stocks eligible'
            when scope = 'market_makers_only'
                then 'market-wide ban (market makers and liquidity providers exempt)'
            when scope = 'index_constituents' and is_index_member
                then index_code || ' constituent under the constituents-only regime'
            when scope = 'index_constituents' and not is_index_member
                then 'not a ' || index_code || ' constituent under the constituents-only regime'
            when scope = 'index_constituents'
                then index_code || ' membership unknown (no constituent snapshot yet)'
            else 'no short-sale regime covers this session'
        end as reason
    from classified

)

select * from final
