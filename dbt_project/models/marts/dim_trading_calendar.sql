with

sessions as (

    select session_date from {{ ref('stg_xkrx__sessions') }}

),

sequenced as (

    select
        session_date,
        row_number() over (order by session_date) as session_number,
        lag(session_date) over (order by session_date) as prev_session_date,
        lead(session_date) over (order by session_date) as next_session_date,
        lead(
            session_date, {{ var('balance_publication_lag_sessions') }}
        ) over (order by session_date) as balance_published_on
    from sessions

),

-- KOSPI 200 / KOSDAQ 150 regular rebalancing: index derivatives expire on the second Thursday
-- of June and December (or the last session before it when KRX is closed that day); the new
-- constituents take effect on the next session.
expiry_months as (

    select distinct cast(date_trunc('month', session_date) as date) as first_day_of_month
    from sessions
    where month(session_date) in (6, 12)

),

second_thursdays as (

    select
        first_day_of_month,
        first_day_of_month
        + cast((11 - isodow(first_day_of_month)) % 7 + 7 as integer) as second_thursday
    from expiry_months

),

expiries as (

    select
        second_thursdays.second_thursday,
        max(sessions.session_date) as expiry_date
    from second_thursdays
    inner join sessions
        on second_thursdays.second_thursday >= sessions.session_date
    group by second_thursdays.second_thursday

),

rebalance_sessions as (

    select sequenced.next_session_date as session_date
    from expiries
    inner join sequenced
        on expiries.expiry_date = sequenced.session_date
    where sequenced.next_session_date is not null

),

final as (

    select
        sequenced.session_date,
        sequenced.session_number,
        sequenced.prev_session_date,
        sequenced.next_session_date,
        sequenced.balance_published_on,
        rebalance_sessions.session_date is not null as is_index_rebalance_effective,
        cast(date_trunc('week', sequenced.session_date) as date) as week_start,
        cast(date_trunc('month', sequenced.session_date) as date) as month,
        year(sequenced.session_date) as year
    from sequenced
    left join rebalance_sessions
        on sequenced.session_date = rebalance_sessions.session_date

)

select * from final
