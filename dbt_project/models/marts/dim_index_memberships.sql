-- Index membership as intervals built from constituent snapshots, dated by the rebalance rule.
-- A ticker absent from one snapshot but listed in the snapshots on both sides is a data gap and
-- keeps its membership (bridged_gap_snapshots counts them). Each remaining change is known to
-- lie between two consecutive snapshots of the index, (changed_after, changed_by]: it is dated
-- at the first rebalance-effective session inside that window (regular_rebalance), else at the
-- snapshot that first shows it (ad_hoc). valid_to is exclusive; null while the latest snapshot
-- still lists the ticker.
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

rebalance_sessions as (

    select session_date
    from {{ ref('dim_trading_calendar') }}
    where is_index_rebalance_effective

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
        lag(snapshot_date) over by_snapshot as previous_snapshot_date,
        lead(snapshot_date) over by_snapshot as next_snapshot_date
    from snapshot_dates
    window by_snapshot as (partition by index_code order by snapshot_date)

),

listed as (

    select
        constituents.index_code,
        constituents.ticker,
        snapshots.snapshot_number
    from constituents
    inner join snapshots
        on
            constituents.index_code = snapshots.index_code
            and constituents.snapshot_date = snapshots.snapshot_date

),

-- Snapshots missing a ticker that the snapshots just before and just after list.
gaps as (

    select
        before_gap.index_code,
        before_gap.ticker,
        before_gap.snapshot_number + 1 as snapshot_number
    from listed as before_gap
    inner join listed as after_gap
        on
            before_gap.index_code = after_gap.index_code
            and before_gap.ticker = after_gap.ticker
            and before_gap.snapshot_number + 2 = after_gap.snapshot_number
    anti join listed as in_gap
        on
            before_gap.index_code = in_gap.index_code
            and before_gap.ticker = in_gap.ticker
            and before_gap.snapshot_number + 1 = in_gap.snapshot_number

),

presence as (

    select
        *,
        false as is_gap
    from listed
    union all
    select
        *,
        true as is_gap
    from gaps

),

islands as (

    select
        *,
        snapshot_number - row_number() over (
            partition by index_code, ticker
            order by snapshot_number
        ) as island
    from presence

),

intervals as (

    select
        index_code,
        ticker,
        min(snapshot_number) as first_snapshot_number,
        max(snapshot_number) as last_snapshot_number,
        cast(count_if(is_gap) as integer) as bridged_gap_snapshots
    from islands
    group by index_code, ticker, island

),

windows as (

    select
        intervals.index_code,
        intervals.ticker,
        entry_snapshot.previous_snapshot_date as entry_changed_after,
        entry_snapshot.snapshot_date as entry_changed_by,
        exit_snapshot.snapshot_date as last_seen_on,
        exit_snapshot.next_snapshot_date as exit_changed_by,
        intervals.bridged_gap_snapshots
    from intervals
    inner join snapshots as entry_snapshot
        on
            intervals.index_code = entry_snapshot.index_code
            and intervals.first_snapshot_number = entry_snapshot.snapshot_number
    inner join snapshots as exit_snapshot
        on
            intervals.index_code = exit_snapshot.index_code
            and intervals.last_snapshot_number = exit_snapshot.snapshot_number

),

-- The first rebalance-effective session inside each change window, if any.
entry_rebalances as (

    select
        windows.index_code,
        windows.ticker,
        windows.entry_changed_by,
        min(rebalance_sessions.session_date) as rebalance_on
    from windows
    inner join rebalance_sessions
        on
            windows.entry_changed_after < rebalance_sessions.session_date
            and windows.entry_changed_by >= rebalance_sessions.session_date
    group by windows.index_code, windows.ticker, windows.entry_changed_by

),

exit_rebalances as (

    select
        windows.index_code,
        windows.ticker,
        windows.last_seen_on,
        min(rebalance_sessions.session_date) as rebalance_on
    from windows
    inner join rebalance_sessions
        on
            windows.last_seen_on < rebalance_sessions.session_date
            and windows.exit_changed_by >= rebalance_sessions.session_date
    group by windows.index_code, windows.ticker, windows.last_seen_on

),

final as (

    select
        windows.index_code,
        windows.ticker,
        names.name,
        coalesce(entry_rebalances.rebalance_on, windows.entry_changed_by) as valid_from,
        coalesce(exit_rebalances.rebalance_on, windows.exit_changed_by) as valid_to,
        case
            when windows.entry_changed_after is null then 'initial'
            when entry_rebalances.rebalance_on is not null then 'regular_rebalance'
            else 'ad_hoc'
        end as entry_kind,
        case
            when windows.exit_changed_by is null then null
            when exit_rebalances.rebalance_on is not null then 'regular_rebalance'
            else 'ad_hoc'
        end as exit_kind,
        windows.entry_changed_after,
        windows.entry_changed_by,
        windows.last_seen_on,
        windows.exit_changed_by,
        windows.bridged_gap_snapshots,
        windows.exit_changed_by is null as is_current
    from windows
    left join entry_rebalances
        on
            windows.index_code = entry_rebalances.index_code
            and windows.ticker = entry_rebalances.ticker
            and windows.entry_changed_by = entry_rebalances.entry_changed_by
    left join exit_rebalances
        on
            windows.index_code = exit_rebalances.index_code
            and windows.ticker = exit_rebalances.ticker
            and windows.last_seen_on = exit_rebalances.last_seen_on
    left join names
        on
            windows.index_code = names.index_code
            and windows.ticker = names.ticker
            and windows.last_seen_on = names.snapshot_date

)

select * from final
