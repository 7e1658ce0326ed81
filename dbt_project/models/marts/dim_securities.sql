with

-- Not materialized: DuckDB would otherwise copy all of its rows (5 M at seven years, about 1 s)
-- for its two readers, each of which reads only some of them.
daily as not materialized (

    select * from {{ ref('int_security_daily_observations') }}

),

master as (

    select * from {{ ref('stg_krx__securities') }}

),

-- The daily observations on the master's snapshot days (a few sessions), the only ones a
-- snapshot can meet.
daily_on_snapshot_days as (

    select
        daily.ticker,
        daily.trade_date
    from daily
    semi join master
        on daily.trade_date = master.snapshot_date

),

-- A master snapshot counts only on days no daily file shows the ticker.
master_observations as (

    select
        master.ticker,
        master.snapshot_date as observed_on,
        master.name,
        master.market
    from master
    anti join daily_on_snapshot_days
        on
            master.ticker = daily_on_snapshot_days.ticker
            and master.snapshot_date = daily_on_snapshot_days.trade_date

),

observations as (

    select
        ticker,
        trade_date as observed_on,
        name,
        market
    from daily
    union all
    select * from master_observations

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

-- Each name and market a ticker carried, with the first and last day it was seen: one hash
-- aggregate over the observations instead of a sort of all of them.
spans as (

    select
        ticker,
        name,
        market,
        min(observed_on) as first_observed_on,
        max(observed_on) as last_observed_on
    from observations
    group by ticker, name, market

),

ordered_spans as (

    select
        ticker,
        first_observed_on,
        lag(last_observed_on) over (
            partition by ticker order by first_observed_on
        ) as previous_last_observed_on
    from spans

),

-- A ticker that came back to an earlier name or market, or was seen twice on one day, has
-- spans that interleave; every other ticker's versions are exactly its spans.
interleaved_tickers as (

    select distinct ticker
    from ordered_spans
    where previous_last_observed_on >= first_observed_on

),

span_versions as (

    select
        spans.ticker,
        spans.name,
        spans.market,
        spans.first_observed_on as valid_from,
        spans.last_observed_on
    from spans
    anti join interleaved_tickers
        on spans.ticker = interleaved_tickers.ticker

),

-- The interleaved tickers' observations in date order: a version starts at the ticker's first
-- observation and at every change of name or market.
interleaved_lagged as (

    select
        observations.ticker,
        observations.observed_on,
        observations.name,
        observations.market,
        lag(observations.observed_on) over by_day as previous_observed_on,
        lag(observations.name) over by_day as previous_name,
        lag(observations.market) over by_day as previous_market
    from observations
    semi join interleaved_tickers
        on observations.ticker = interleaved_tickers.ticker
    window by_day as (partition by observations.ticker order by observations.observed_on)

),

interleaved_changes as (

    select
        ticker,
        observed_on as valid_from,
        previous_observed_on,
        name,
        market
    from interleaved_lagged
    where
        previous_observed_on is null
        or previous_name is distinct from name
        or previous_market is distinct from market

),

interleaved_last_observations as (

    select
        ticker,
        max(observed_on) as last_observed_on
    from interleaved_lagged
    group by ticker

),

-- A version's last observation is the one just before the next version's first, or the
-- ticker's last for its current version.
interleaved_versions as (

    select
        interleaved_changes.ticker,
        interleaved_changes.name,
        interleaved_changes.market,
        interleaved_changes.valid_from,
        coalesce(
            lead(interleaved_changes.previous_observed_on) over (
                partition by interleaved_changes.ticker
                order by interleaved_changes.valid_from
            ),
            interleaved_last_observations.last_observed_on
        ) as last_observed_on
    from interleaved_changes
    inner join interleaved_last_observations
        on interleaved_changes.ticker = interleaved_last_observations.ticker

),

versions as (

    select * from span_versions
    union all
    select * from interleaved_versions

),

-- A version lasts until the next one's first observation.
bounded as (

    select
        ticker,
        cast(row_number() over by_version as integer) as version_number,
        name,
        market,
        valid_from,
        lead(valid_from) over by_version as valid_to,
        last_observed_on
    from versions
    window by_version as (partition by ticker order by valid_from)

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
