-- Index membership as intervals built from constituent snapshots (gaps and islands over the
-- ordered snapshot dates of each index). Membership changes only where a snapshot shows it:
-- valid_from is the first snapshot listing the ticker, valid_to the first later snapshot of the
-- same index that no longer lists it (exclusive; null while the latest snapshot still lists it).
with

constituents as (

    select distinct
        index_code,
        snapshot_date,
        ticker
    from {{ ref('stg_krx__index_constituents') }}

),

names as (

    select
        index_code,
        snapshot_date,
        ticker,
        name
    from {{ ref('stg_krx__index_constituents') }}

),

calendar as (

    select
        session_date,
        is_index_rebalance_effective
    from {{ ref('dim_trading_calendar') }}

),

snapshot_dates as (

    select distinct
        index_code,
        snapshot_date
    from constituents

),

snapshots as (

    select
        index_code,
        snapshot_date,
        row_number() over by_snapshot as snapshot_number,
        lead(snapshot_date) over by_snapshot as next_snapshot_date,
        min(snapshot_date) over (partition by index_code) as first_snapshot_date
    from snapshot_dates
    window by_snapshot as (partition by index_code order by snapshot_date)

),

islands as (

    select
        constituents.index_code,
        constituents.ticker,
        constituents.snapshot_date,
        snapshots.snapshot_number - row_number() over (
            partition by constituents.index_code, constituents.ticker
            order by constituents.snapshot_date
        ) as island
    from constituents
    inner join snapshots
        on
            constituents.index_code = snapshots.index_code
            and constituents.snapshot_date = snapshots.snapshot_date

),

intervals as (

    select
        index_code,
        ticker,
        min(snapshot_date) as valid_from,
        max(snapshot_date) as last_seen_on
    from islands
    group by index_code, ticker, island

),

bounded as (

    select
        intervals.index_code,
        intervals.ticker,
        intervals.valid_from,
        snapshots.next_snapshot_date as valid_to,
        intervals.last_seen_on,
        snapshots.first_snapshot_date
    from intervals
    inner join snapshots
        on
            intervals.index_code = snapshots.index_code
            and intervals.last_seen_on = snapshots.snapshot_date

),

final as (

    select
        bounded.index_code,
        bounded.ticker,
        names.name,
        bounded.valid_from,
        bounded.valid_to,
        case
            when bounded.valid_from = bounded.first_snapshot_date then 'initial'
            when entry_day.is_index_rebalance_effective then 'regular_rebalance'
            else 'ad_hoc'
        end as entry_kind,
        case
            when bounded.valid_to is null then null
            when exit_day.is_index_rebalance_effective then 'regular_rebalance'
            else 'ad_hoc'
        end as exit_kind,
        bounded.last_seen_on,
        bounded.valid_to is null as is_current
    from bounded
    left join calendar as entry_day
        on bounded.valid_from = entry_day.session_date
    left join calendar as exit_day
        on bounded.valid_to = exit_day.session_date
    left join names
        on
            bounded.index_code = names.index_code
            and bounded.ticker = names.ticker
            and bounded.last_seen_on = names.snapshot_date

)

select * from final
