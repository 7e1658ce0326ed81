with

balance_tickers as (

    select
        trade_date,
        ticker,
        market,
        name,
        1 as source_priority
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
        name,
        2 as source_priority
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

-- Membership is known from the first constituent snapshot of an index on.
index_coverage as (

    select
        index_code,
        min(valid_from) as first_snapshot_date
    from memberships
    group by index_code

),

unioned as (

    select * from balance_tickers
    union all
    select * from trade_tickers

),

tickers as (

    select
        trade_date,
        ticker,
        market,
        name,
        case market
            when 'KOSPI' then 'KOSPI200'
            when 'KOSDAQ' then 'KOSDAQ150'
        end as index_code
    from unioned
    qualify
        row_number() over (
            partition by trade_date, ticker
            order by source_priority
        ) = 1

),

classified as (

    select
        tickers.trade_date,
        tickers.ticker,
        tickers.market,
        tickers.name,
        regimes.regime_id,
        regimes.scope,
        tickers.index_code,
        case
            when
                index_coverage.first_snapshot_date is null
                or tickers.trade_date < index_coverage.first_snapshot_date
                then null
            else memberships.ticker is not null
        end as is_index_member
    from tickers
    left join regimes
        on
            tickers.trade_date >= regimes.starts_on
            and (regimes.ends_on is null or tickers.trade_date <= regimes.ends_on)
    left join index_coverage
        on tickers.index_code = index_coverage.index_code
    left join memberships
        on
            tickers.index_code = memberships.index_code
            and tickers.ticker = memberships.ticker
            and tickers.trade_date >= memberships.valid_from
            and (memberships.valid_to is null or tickers.trade_date < memberships.valid_to)

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
        case scope
            when 'all_listed' then true
            when 'market_makers_only' then false
            when 'index_constituents' then is_index_member
        end as is_eligible,
        case
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
