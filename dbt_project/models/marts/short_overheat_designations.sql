-- KRX's overheated short-selling designations, one row per ticker and detection day, with the
-- ban's sessions: from ban_on up to the session before released_on (released_on read as the
-- first day shorting is allowed again; a release on the ban day itself counts as a one-session
-- ban).
with

designations as (

    select * from {{ ref('stg_krx__short_overheat_designations') }}

),

calendar as (

    select session_date from {{ ref('dim_trading_calendar') }}

),

ban_sessions as (

    select
        designations.ticker,
        designations.detected_on,
        count(calendar.session_date) as ban_sessions,
        max(calendar.session_date) as last_ban_on
    from designations
    inner join calendar
        on
            designations.ban_on <= calendar.session_date
            and (
                designations.released_on > calendar.session_date
                or designations.ban_on = calendar.session_date
            )
    group by designations.ticker, designations.detected_on

),

final as (

    select
        designations.ticker,
        designations.detected_on,
        case designations.market_id
            when 'STK' then 'KOSPI'
            when 'KSQ' then 'KOSDAQ'
            when 'KNX' then 'KONEX'
        end as market,
        designations.ban_on,
        designations.released_on,
        ban_sessions.last_ban_on,
        ban_sessions.ban_sessions,
        try_cast(regexp_extract(designations.designation_label, '[1-4]') as integer)
            as designation_type,
        designations.designation_label like '%연장%' as is_extension,
        designations.designation_label,
        designations.window_sessions,
        designations.short_share_pct,
        designations.change_pct,
        designations.short_value_multiple,
        designations.avg_short_share_40d_pct,
        designations.source_file
    from designations
    left join ban_sessions
        on
            designations.ticker = ban_sessions.ticker
            and designations.detected_on = ban_sessions.detected_on

)

select * from final
