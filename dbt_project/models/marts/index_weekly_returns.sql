-- Weekly index returns: a week (Monday start) closes at its last session, whatever the number
-- of sessions in it (holiday weeks count as weeks). The return compares with the previous week
-- that has a close; the streak counts consecutive weeks with a positive return and is 0 on a
-- week whose return is zero, negative or unknown (the first week). A week is complete when its
-- last KRX session has a level: the current week is not until it ends.
with

levels as (

    select
        fct_index_levels.trade_date,
        fct_index_levels.index_code,
        fct_index_levels.close,
        calendar.week_start
    from {{ ref('fct_index_levels') }} as fct_index_levels
    inner join {{ ref('dim_trading_calendar') }} as calendar
        on fct_index_levels.trade_date = calendar.session_date

),

calendar_weeks as (

    select
        week_start,
        max(session_date) as week_last_session
    from {{ ref('dim_trading_calendar') }}
    group by week_start

),

weeks as (

    select
        week_start,
        index_code,
        min(trade_date) as first_session,
        max(trade_date) as last_session,
        count(*) as sessions,
        arg_max(close, trade_date) as close
    from levels
    group by week_start, index_code

),

returns as (

    select
        weeks.*,
        weeks.last_session = calendar_weeks.week_last_session as is_complete_week,
        lag(weeks.close) over by_week as previous_close,
        100.0 * (weeks.close / lag(weeks.close) over by_week - 1) as weekly_return_pct
    from weeks
    inner join calendar_weeks
        on weeks.week_start = calendar_weeks.week_start
    window by_week as (partition by weeks.index_code order by weeks.week_start)

),

streak_groups as (

    select
        *,
        coalesce(weekly_return_pct > 0, false) as is_positive_week,
        sum(case when coalesce(weekly_return_pct > 0, false) then 0 else 1 end) over (
            partition by index_code
            order by week_start
            rows between unbounded preceding and current row
        ) as streak_group
    from returns

),

final as (

    select
        week_start,
        index_code,
        first_session,
        last_session,
        sessions,
        is_complete_week,
        close,
        previous_close,
        weekly_return_pct,
        is_positive_week,
        case
            when is_positive_week
                then
                    count(*) filter (where is_positive_week) over (
                        partition by index_code, streak_group
                        order by week_start
                        rows between unbounded preceding and current row
                    )
            else 0
        end as positive_week_streak
    from streak_groups

)

select * from final
