-- KRX's overheated short-selling rule computed from the facts, per ticker and session where
-- shorting was allowed and the ticker traded. The 40-session window counts the ticker's prior
-- sessions that were not its own overheated ban days (KRX's list, via short_eligibility_daily):
-- a ban does not shorten the window, it pushes it back. An incremental run reads
-- var('overheat_lookback_sessions') sessions before its window for the windows and the prior
-- quarter for type 1's base, and writes its window plus the session before it (whose ban
-- extension depends on the first session of the window).
{%- set window = run_window() %}
{%- set lookback_sessions = var('overheat_lookback_sessions') %}

with

calendar as (

    select
        session_date,
        session_number,
        next_session_date
    from {{ ref('dim_trading_calendar') }}

),

-- The first session the run writes: the session before its window.
run_start as (

    select coalesce(max(session_number), 1) as session_number
    from calendar
    where session_date < cast('{{ window[0] }}' as date)

),

reads as (

    select
        min(calendar.session_date) as first_read_on,
        min(calendar.session_date) filter (
            where calendar.session_number >= run_start.session_number
        ) as first_written_on
    from calendar
    cross join run_start
    where calendar.session_number >= run_start.session_number - {{ lookback_sessions }}

),

trades as (

    select
        fct_short_trades.trade_date,
        fct_short_trades.ticker,
        fct_short_trades.market,
        fct_short_trades.short_value_krw,
        fct_short_trades.total_value_krw,
        fct_short_trades.short_value_share_pct
    from {{ ref('fct_short_trades') }} as fct_short_trades
    {% if is_incremental() %}
        where
            fct_short_trades.trade_date >= date_trunc('quarter', cast('{{ window[0] }}' as date))
            - interval 3 month
            and fct_short_trades.trade_date < cast('{{ window[1] }}' as date)
    {% endif %}

),

eligibility as (

    select
        trade_date,
        ticker,
        is_eligible,
        is_overheat_banned,
        is_index_member
    from {{ ref('short_eligibility_daily') }}
    {% if is_incremental() %}
        where
            trade_date >= date_trunc('quarter', cast('{{ window[0] }}' as date)) - interval 3 month
            and trade_date < cast('{{ window[1] }}' as date)
    {% endif %}

),

prices as (

    select
        trade_date,
        ticker,
        change_pct
    from {{ ref('fct_stock_prices') }}
    {% if is_incremental() %}
        where
            trade_date >= (select reads.first_read_on from reads)
            and trade_date < cast('{{ window[1] }}' as date)
    {% endif %}

),

rules as (

    select * from {{ ref('short_overheat_rules') }}

),

designations as (

    select * from {{ ref('short_overheat_designations') }}

),

-- Type 1's base: the short share of value of the market's index constituents over a quarter
-- (KOSPI: every KOSPI ticker; KOSDAQ: KOSDAQ 150 members), as total short value over total
-- trading value.
quarter_bases as (

    select
        date_trunc('quarter', trades.trade_date) as quarter_start,
        trades.market,
        100.0 * sum(trades.short_value_krw) / nullif(sum(trades.total_value_krw), 0)
            as base_share_pct
    from trades
    left join eligibility
        on
            trades.trade_date = eligibility.trade_date
            and trades.ticker = eligibility.ticker
    where trades.market = 'KOSPI' or eligibility.is_index_member
    group by date_trunc('quarter', trades.trade_date), trades.market

),

-- Every session of the read range for each ticker that traded in it, without its ban days.
ticker_sessions as (

    select
        tickers.ticker,
        calendar.session_date as trade_date,
        calendar.session_number,
        calendar.next_session_date
    from (select distinct ticker from trades) as tickers
    cross join calendar
    left join eligibility
        on
            tickers.ticker = eligibility.ticker
            and calendar.session_date = eligibility.trade_date
    where
        calendar.session_date >= (select reads.first_read_on from reads)
        and calendar.session_date < cast('{{ window[1] }}' as date)
        and calendar.session_date between (select min(trades.trade_date) from trades)
        and (select max(trades.trade_date) from trades)
        and not coalesce(eligibility.is_overheat_banned, false)

),

windows as (

    select
        ticker_sessions.ticker,
        ticker_sessions.trade_date,
        ticker_sessions.next_session_date,
        trades.market,
        trades.short_value_krw,
        trades.total_value_krw,
        trades.short_value_share_pct,
        count(trades.short_value_krw) over prior_40 as window_sessions,
        avg(trades.short_value_krw) over prior_40 as avg_short_value_40d_krw,
        -- summed as decimals: the same figure whatever order a run adds the sessions in
        cast(
            avg(cast(trades.short_value_share_pct as decimal(18, 12))) over prior_40 as double
        ) as avg_short_share_40d_pct
    from ticker_sessions
    left join trades
        on
            ticker_sessions.ticker = trades.ticker
            and ticker_sessions.trade_date = trades.trade_date
            and trades.total_value_krw > 0
    window prior_40 as (
        partition by ticker_sessions.ticker
        order by ticker_sessions.session_number
        rows between {{ var('overheat_window_sessions') }} preceding and 1 preceding
    )

),

assessed as (

    select
        windows.trade_date,
        windows.ticker,
        windows.market,
        windows.next_session_date,
        prices.change_pct,
        windows.short_value_krw,
        windows.total_value_krw,
        windows.short_value_share_pct as short_share_pct,
        windows.avg_short_share_40d_pct,
        windows.avg_short_value_40d_krw,
        windows.short_value_krw / nullif(windows.avg_short_value_40d_krw, 0)
            as short_value_multiple,
        quarter_bases.base_share_pct,
        windows.window_sessions,
        windows.window_sessions >= {{ var('overheat_min_window_sessions') }} as is_assessed
    from windows
    inner join eligibility
        on
            windows.ticker = eligibility.ticker
            and windows.trade_date = eligibility.trade_date
    left join prices
        on
            windows.ticker = prices.ticker
            and windows.trade_date = prices.trade_date
    left join quarter_bases
        on
            windows.market = quarter_bases.market
            and date_trunc('quarter', windows.trade_date) - interval 3 month
            = quarter_bases.quarter_start
    where
        windows.short_value_krw is not null
        and eligibility.is_eligible
        and windows.trade_date >= (select reads.first_written_on from reads)

),

-- One row per candidate and type of the version in force; a threshold left empty in the seed
-- is no condition. Null when an input is missing or the ticker is not assessed.
verdicts as (

    select
        assessed.trade_date,
        assessed.ticker,
        rules.version_id,
        rules.designation_type,
        rules.ban_sessions,
        rules.extension_drop_pct,
        case when assessed.is_assessed then
                (
                    rules.price_change_max_pct is null
                    or assessed.change_pct <= rules.price_change_max_pct
                )
                and (
                    rules.price_change_above_pct is null
                    or assessed.change_pct > rules.price_change_above_pct
                )
                and (rules.share_min_pct is null or assessed.short_share_pct >= rules.share_min_pct)
                and (
                    rules.share_base_multiple is null
                    or assessed.short_share_pct >= least(
                        rules.share_base_multiple * assessed.base_share_pct,
                        rules.base_share_cap_pct
                    )
                )
                and (
                    rules.share_avg_multiple is null
                    or assessed.short_share_pct
                    >= rules.share_avg_multiple * assessed.avg_short_share_40d_pct
                )
                and (
                    rules.value_multiple_min is null
                    or assessed.short_value_multiple >= rules.value_multiple_min
                )
                and (
                    rules.avg_share_min_pct is null
                    or assessed.avg_short_share_40d_pct >= rules.avg_share_min_pct
                )
        end as fires,
        -- How far today's figures are from this type: what the share and the multiple lack,
        -- and how much further the price must fall (0 when met)
        greatest(
            greatest(
                coalesce(rules.share_min_pct, 0),
                coalesce(
                    least(
                        rules.share_base_multiple * assessed.base_share_pct,
                        rules.base_share_cap_pct
                    ),
                    0
                ),
                coalesce(rules.share_avg_multiple * assessed.avg_short_share_40d_pct, 0)
            ) - assessed.short_share_pct,
            0
        ) as share_gap_pct,
        greatest(coalesce(rules.value_multiple_min, 0) - assessed.short_value_multiple, 0)
            as multiple_gap,
        greatest(
            assessed.change_pct - coalesce(rules.price_change_max_pct, assessed.change_pct), 0
        ) as change_gap_pct,
        -- A type whose other conditions (the average share, the price floor of type 1) fail
        -- today cannot be reached by today's share, multiple or price
        (
            rules.avg_share_min_pct is null
            or assessed.avg_short_share_40d_pct >= rules.avg_share_min_pct
        )
        and (
            rules.price_change_above_pct is null
            or assessed.change_pct > rules.price_change_above_pct
        ) as is_reachable
    from assessed
    inner join rules
        on
            (case when assessed.market = 'KOSPI' then 'KOSPI' else 'KOSDAQ' end) = rules.market
            and assessed.trade_date >= rules.starts_on
            and (rules.ends_on is null or assessed.trade_date <= rules.ends_on)

),

by_type as (

    select
        trade_date,
        ticker,
        any_value(version_id) as rule_version_id,
        any_value(ban_sessions) as ban_sessions,
        any_value(extension_drop_pct) as extension_drop_pct,
        {%- for type in range(1, 5) %}
            bool_or(fires) filter (where designation_type = {{ type }}) as type_{{ type }},
        {%- endfor %}
        coalesce(bool_or(fires), false) as fires,
        -- the nearest type: the smallest of the largest relative gap
        arg_min(
            struct_pack(
                designation_type := designation_type,
                share_gap_pct := share_gap_pct,
                multiple_gap := multiple_gap,
                change_gap_pct := change_gap_pct
            ),
            greatest(share_gap_pct / 30, multiple_gap / 6, change_gap_pct / 10)
        ) filter (where is_reachable) as nearest
    from verdicts
    group by trade_date, ticker

),

-- The ban's sessions: the next session, or the next ten under the March 2020 relaxation.
bans as (

    select
        by_type.trade_date,
        by_type.ticker,
        min(calendar.session_date) as ban_on,
        max(calendar.session_date) as last_ban_on
    from by_type
    inner join calendar as detection
        on by_type.trade_date = detection.session_date
    inner join calendar
        on
            detection.session_number < calendar.session_number
            and calendar.session_number <= detection.session_number + by_type.ban_sessions
    group by by_type.trade_date, by_type.ticker

),

-- Years KRX's designation list covers (a year with at least one designation loaded).
krx_years as (

    select distinct year(detected_on) as year from designations

),

final as (

    select
        assessed.trade_date,
        assessed.ticker,
        assessed.market,
        assessed.change_pct,
        assessed.short_value_krw,
        assessed.total_value_krw,
        assessed.short_share_pct,
        assessed.avg_short_share_40d_pct,
        assessed.short_share_pct / nullif(assessed.avg_short_share_40d_pct, 0)
            as short_share_to_avg,
        assessed.avg_short_value_40d_krw,
        assessed.short_value_multiple,
        assessed.base_share_pct,
        assessed.window_sessions,
        assessed.is_assessed,
        by_type.type_1,
        by_type.type_2,
        by_type.type_3,
        by_type.type_4,
        -- KRX's priority: 1 and 2 over 3 and 4, 3 over 4 (1 before 2).
        case
            when by_type.type_1 then 1
            when by_type.type_2 then 2
            when by_type.type_3 then 3
            when by_type.type_4 then 4
        end as designation_type,
        struct_extract(by_type.nearest, 'designation_type') as nearest_ban_type,
        struct_extract(by_type.nearest, 'share_gap_pct') as share_gap_pct,
        struct_extract(by_type.nearest, 'multiple_gap') as multiple_gap,
        struct_extract(by_type.nearest, 'change_gap_pct') as change_gap_pct,
        by_type.rule_version_id,
        case when by_type.fires then bans.ban_on end as ban_on,
        case when by_type.fires then bans.last_ban_on end as last_ban_on,
        -- From 2022-10-24 a fall of 5% or more on the (last) ban day adds the next session;
        -- null until that day's price is loaded.
        case
            when not by_type.fires then null
            when by_type.extension_drop_pct is null then false
            else ban_day.change_pct <= -by_type.extension_drop_pct
        end as is_ban_extended,
        case
            when by_type.fires and ban_day.change_pct <= -by_type.extension_drop_pct
                then after_ban.next_session_date
        end as extension_on,
        case
            when krx_years.year is null then null
            else designations.ticker is not null
        end as is_designated_by_krx
    from assessed
    inner join by_type
        on
            assessed.trade_date = by_type.trade_date
            and assessed.ticker = by_type.ticker
    left join bans
        on
            assessed.trade_date = bans.trade_date
            and assessed.ticker = bans.ticker
    left join prices as ban_day
        on
            assessed.ticker = ban_day.ticker
            and bans.last_ban_on = ban_day.trade_date
    left join calendar as after_ban
        on bans.last_ban_on = after_ban.session_date
    left join krx_years
        on year(assessed.trade_date) = krx_years.year
    left join designations
        on
            assessed.ticker = designations.ticker
            and assessed.trade_date = designations.detected_on

)

select * from final
