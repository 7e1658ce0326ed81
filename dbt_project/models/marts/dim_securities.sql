with

observations as (

    select * from {{ ref('int_security_observations') }}

),

master as (

    select * from {{ ref('stg_krx__securities') }}

),

-- ISIN and listing date come only from the master (latest snapshot that lists the ticker);
-- they stay null for tickers no master snapshot covers.
master_attributes as (

    select
        ticker,
        arg_max(isin, snapshot_date) as isin,
        arg_max(listed_on, snapshot_date) as listed_on
    from master
    group by ticker

),

lagged as (

    select
        ticker,
        observed_on,
        name,
        market,
        lag(observed_on) over by_day as previous_observed_on,
        lag(name) over by_day as previous_name,
        lag(market) over by_day as previous_market
    from observations
    window by_day as (partition by ticker order by observed_on)

),

flagged as (

    select
        *,
        case
            when
                previous_observed_on is null
                or (previous_name is distinct from name)
                or (previous_market is distinct from market)
                then 1
            else 0
        end as is_change
    from lagged

),

numbered as (

    select
        *,
        cast(
            sum(is_change) over (
                partition by ticker
                order by observed_on
                rows between unbounded preceding and current row
            ) as integer
        ) as version_number
    from flagged

),

versions as (

    select
        ticker,
        version_number,
        any_value(name) as name,
        any_value(market) as market,
        min(observed_on) as valid_from,
        max(observed_on) as last_observed_on
    from numbered
    group by ticker, version_number

),

bounded as (

    select
        *,
        lead(valid_from) over (
            partition by ticker
            order by version_number
        ) as valid_to
    from versions

),

final as (

    select
        bounded.ticker,
        bounded.version_number,
        master_attributes.isin,
        bounded.name,
        bounded.market,
        master_attributes.listed_on,
        bounded.valid_from,
        bounded.valid_to,
        bounded.last_observed_on,
        bounded.valid_to is null as is_current
    from bounded
    left join master_attributes
        on bounded.ticker = master_attributes.ticker

)

select * from final
