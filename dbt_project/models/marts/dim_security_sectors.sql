-- The KRX industry of each ticker as intervals built from classification snapshots (gaps and
-- islands over each market's ordered snapshot dates, as dim_index_memberships does for index
-- constituents): a new row where a snapshot shows another industry (KRX renames included).
with

industries as (

    select distinct
        market,
        snapshot_date,
        ticker,
        industry
    from {{ ref('stg_krx__sectors') }}

),

snapshot_dates as (

    select distinct
        market,
        snapshot_date
    from industries

),

snapshots as (

    select
        market,
        snapshot_date,
        row_number() over by_snapshot as snapshot_number,
        lead(snapshot_date) over by_snapshot as next_snapshot_date
    from snapshot_dates
    window by_snapshot as (partition by market order by snapshot_date)

),

islands as (

    select
        industries.market,
        industries.ticker,
        industries.industry,
        industries.snapshot_date,
        snapshots.snapshot_number - row_number() over (
            partition by industries.market, industries.ticker, industries.industry
            order by industries.snapshot_date
        ) as island
    from industries
    inner join snapshots
        on
            industries.market = snapshots.market
            and industries.snapshot_date = snapshots.snapshot_date

),

intervals as (

    select
        market,
        ticker,
        industry,
        min(snapshot_date) as valid_from,
        max(snapshot_date) as last_seen_on
    from islands
    group by market, ticker, industry, island

),

final as (

    select
        intervals.ticker,
        'krx_industry' as classification,
        intervals.industry as sector,
        intervals.market,
        intervals.valid_from,
        snapshots.next_snapshot_date as valid_to,
        intervals.last_seen_on,
        snapshots.next_snapshot_date is null as is_current
    from intervals
    inner join snapshots
        on
            intervals.market = snapshots.market
            and intervals.last_seen_on = snapshots.snapshot_date

)

select * from final
