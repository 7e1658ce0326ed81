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

-- the first observation of each version: the ticker's first, or a new name or market
changes as (

    select
        ticker,
        observed_on as valid_from,
        previous_observed_on,
        name,
        market
    from lagged
    where
        previous_observed_on is null
        or previous_name is distinct from name
        or previous_market is distinct from market

),

last_observations as (

    select
        ticker,
        max(observed_on) as last_observed_on
    from observations
    group by ticker

),

-- A version lasts until the next one's first observation; its last observation is the one just
-- before that (the next version's previous_observed_on), or the ticker's last for the current one.
bounded as (

    select
        changes.ticker,
        cast(row_number() over by_version as integer) as version_number,
        changes.name,
        changes.market,
        changes.valid_from,
        lead(changes.valid_from) over by_version as valid_to,
        coalesce(
            lead(changes.previous_observed_on) over by_version,
            last_observations.last_observed_on
        ) as last_observed_on
    from changes
    inner join last_observations
        on changes.ticker = last_observations.ticker
    window by_version as (partition by changes.ticker order by changes.valid_from)

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
