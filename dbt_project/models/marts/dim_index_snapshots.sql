-- The quality of each index's constituent snapshots: one row per snapshot, plus one per
-- rebalance-effective session without a snapshot between the index's first snapshot and its
-- latest session with a level (or its latest snapshot). member_count is compared with the size
-- the index holds in most of its snapshots (on a tie, the larger); tickers_bridged counts the
-- tickers this snapshot lacks although dim_index_memberships keeps them (listed in the
-- snapshots on both sides).
with

constituents as (

    select distinct
        index_code,
        snapshot_date,
        ticker
    from {{ ref('stg_krx__index_constituents') }}

),

memberships as (

    select * from {{ ref('dim_index_memberships') }}

),

calendar as (

    select
        session_date,
        is_index_rebalance_effective
    from {{ ref('dim_trading_calendar') }}

),

level_ends as (

    select
        index_code,
        max(trade_date) as last_level_date
    from {{ ref('stg_krx__index_levels') }}
    group by index_code

),

snapshot_counts as (

    select
        index_code,
        snapshot_date,
        count(*) as member_count
    from constituents
    group by index_code, snapshot_date

),

-- The size most snapshots of the index hold (on a tie, the larger).
usual_sizes as (

    select
        index_code,
        member_count as usual_member_count
    from snapshot_counts
    group by index_code, member_count
    qualify
        row_number() over (
            partition by index_code order by count(*) desc, member_count desc
        ) = 1

),

coverage as (

    select
        snapshot_counts.index_code,
        min(snapshot_counts.snapshot_date) as first_snapshot_date,
        greatest(
            max(snapshot_counts.snapshot_date), any_value(level_ends.last_level_date)
        ) as covered_to,
        any_value(usual_sizes.usual_member_count) as usual_member_count
    from snapshot_counts
    inner join usual_sizes
        on snapshot_counts.index_code = usual_sizes.index_code
    left join level_ends
        on snapshot_counts.index_code = level_ends.index_code
    group by snapshot_counts.index_code

),

sessions as (

    select
        coverage.index_code,
        calendar.session_date,
        calendar.is_index_rebalance_effective
    from coverage
    inner join calendar
        on calendar.session_date between coverage.first_snapshot_date and coverage.covered_to

),

bridged as (

    select
        memberships.index_code,
        snapshot_counts.snapshot_date,
        count(*) as tickers_bridged
    from snapshot_counts
    inner join memberships
        on
            snapshot_counts.index_code = memberships.index_code
            and snapshot_counts.snapshot_date >= memberships.valid_from
            and (
                memberships.valid_to is null
                or snapshot_counts.snapshot_date < memberships.valid_to
            )
    anti join constituents
        on
            memberships.index_code = constituents.index_code
            and memberships.ticker = constituents.ticker
            and snapshot_counts.snapshot_date = constituents.snapshot_date
    group by memberships.index_code, snapshot_counts.snapshot_date

),

final as (

    select
        sessions.index_code,
        sessions.session_date,
        sessions.is_index_rebalance_effective,
        snapshot_counts.snapshot_date is not null as has_snapshot,
        snapshot_counts.member_count,
        coverage.usual_member_count,
        case
            when snapshot_counts.snapshot_date is not null
                then coalesce(bridged.tickers_bridged, 0)
        end as tickers_bridged
    from sessions
    inner join coverage
        on sessions.index_code = coverage.index_code
    left join snapshot_counts
        on
            sessions.index_code = snapshot_counts.index_code
            and sessions.session_date = snapshot_counts.snapshot_date
    left join bridged
        on
            sessions.index_code = bridged.index_code
            and sessions.session_date = bridged.snapshot_date
    where snapshot_counts.snapshot_date is not null or sessions.is_index_rebalance_effective

)

select * from final
