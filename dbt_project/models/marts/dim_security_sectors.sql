-- The sectors of each ticker as intervals built from snapshots, by gaps and islands over the
-- ordered snapshot dates of each scope (as dim_index_memberships does for index constituents):
-- the KRX industry per market (a new row where a snapshot shows another industry, KRX renames
-- included) and membership per theme index.
with

industries as (

    select distinct
        'krx_industry' as classification,
        market as scope,
        market,
        snapshot_date,
        ticker,
        industry as sector
    from {{ ref('stg_krx__sectors') }}

),

themes as (

    select distinct
        'theme' as classification,
        index_code as scope,
        cast(null as varchar) as market,
        snapshot_date,
        ticker,
        index_code as sector
    from {{ ref('stg_krx__theme_constituents') }}

),

observations as (

    select * from industries
    union all
    select * from themes

),

snapshot_dates as (

    select distinct
        classification,
        scope,
        snapshot_date
    from observations

),

snapshots as (

    select
        classification,
        scope,
        snapshot_date,
        row_number() over by_snapshot as snapshot_number,
        lead(snapshot_date) over by_snapshot as next_snapshot_date
    from snapshot_dates
    window by_snapshot as (partition by classification, scope order by snapshot_date)

),

islands as (

    select
        observations.classification,
        observations.scope,
        observations.market,
        observations.ticker,
        observations.sector,
        observations.snapshot_date,
        snapshots.snapshot_number - row_number() over (
            partition by
                observations.classification,
                observations.scope,
                observations.ticker,
                observations.sector
            order by observations.snapshot_date
        ) as island
    from observations
    inner join snapshots
        on
            observations.classification = snapshots.classification
            and observations.scope = snapshots.scope
            and observations.snapshot_date = snapshots.snapshot_date

),

intervals as (

    select
        classification,
        scope,
        market,
        ticker,
        sector,
        min(snapshot_date) as valid_from,
        max(snapshot_date) as last_seen_on
    from islands
    group by classification, scope, market, ticker, sector, island

),

final as (

    select
        intervals.ticker,
        intervals.classification,
        intervals.sector,
        intervals.market,
        intervals.valid_from,
        snapshots.next_snapshot_date as valid_to,
        intervals.last_seen_on,
        snapshots.next_snapshot_date is null as is_current
    from intervals
    inner join snapshots
        on
            intervals.classification = snapshots.classification
            and intervals.scope = snapshots.scope
            and intervals.last_seen_on = snapshots.snapshot_date

)

select * from final
