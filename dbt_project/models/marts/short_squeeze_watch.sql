-- Squeeze indicators per ticker and session with a balance. Trailing windows count KRX
-- sessions (dim_trading_calendar.session_number), not rows: the 5- and 20-session changes compare
-- with the ticker's balance exactly 5 / 20 sessions earlier (null when the ticker has no balance
-- that day); the 20-session average volume is over the ticker's trading rows among the 20 sessions
-- ending on the day, and days_to_cover is null unless all 20 sessions have one. An incremental
-- run reads var('lookback_calendar_days') calendar days before the run window (about 40
-- sessions) and writes only the window. foreign_share_change_20d compares with the ticker's
-- foreign share exactly 20 sessions earlier (null without a foreign-holdings file then); the
-- close is the balance file's, else the price file's of the day.
with

calendar as (

    select
        session_date,
        session_number
    from {{ ref('dim_trading_calendar') }}

),

balances as (

    select
        fct_short_balances.*,
        calendar.session_number
    from {{ ref('fct_short_balances') }} as fct_short_balances
    inner join calendar
        on fct_short_balances.trade_date = calendar.session_date
    {% if is_incremental() %}
        where {{ in_window('fct_short_balances.trade_date', var('lookback_calendar_days')) }}
    {% endif %}

),

trades as (

    select
        fct_short_trades.*,
        calendar.session_number
    from {{ ref('fct_short_trades') }} as fct_short_trades
    inner join calendar
        on fct_short_trades.trade_date = calendar.session_date
    {% if is_incremental() %}
        where {{ in_window('fct_short_trades.trade_date', var('lookback_calendar_days')) }}
    {% endif %}

),

foreign_holdings as (

    select
        fct_foreign_holdings.trade_date,
        fct_foreign_holdings.ticker,
        fct_foreign_holdings.foreign_share_pct,
        calendar.session_number
    from {{ ref('fct_foreign_holdings') }} as fct_foreign_holdings
    inner join calendar
        on fct_foreign_holdings.trade_date = calendar.session_date
    {% if is_incremental() %}
        where {{ in_window('fct_foreign_holdings.trade_date', var('lookback_calendar_days')) }}
    {% endif %}

),

prices as (

    select
        trade_date,
        ticker,
        close
    from {{ ref('fct_stock_prices') }}
    {% if is_incremental() %}
        where {{ in_window('trade_date') }}
    {% endif %}

),

foreign_changes as (

    select
        current_day.trade_date,
        current_day.ticker,
        current_day.foreign_share_pct,
        current_day.foreign_share_pct - twenty_back.foreign_share_pct as foreign_share_change_20d
    from foreign_holdings as current_day
    left join foreign_holdings as twenty_back
        on
            current_day.ticker = twenty_back.ticker
            and current_day.session_number - 20 = twenty_back.session_number

),

trade_windows as (

    select
        ticker,
        trade_date,
        total_volume,
        short_volume,
        short_volume_share_pct,
        short_value_share_pct,
        avg(total_volume) over last_20_sessions as avg_volume_20d,
        count(total_volume) over last_20_sessions as volume_sessions_20d,
        100.0 * sum(short_volume) over last_20_sessions
        / nullif(sum(total_volume) over last_20_sessions, 0) as short_volume_share_pct_20d
    from trades
    window last_20_sessions as (
        partition by ticker
        order by session_number
        range between 19 preceding and current row
    )

),

-- The overheated-stock rule's distance to a ban, on the sessions shorting was allowed.
ban_distances as (

    select
        trade_date,
        ticker,
        nearest_ban_type,
        share_gap_pct,
        multiple_gap,
        change_gap_pct
    from {{ ref('short_overheat_candidates') }}
    {% if is_incremental() %}
        where {{ in_window('trade_date') }}
    {% endif %}

),

changes as (

    select
        current_day.trade_date,
        current_day.ticker,
        current_day.market,
        current_day.name,
        current_day.balance_qty,
        current_day.balance_krw,
        current_day.balance_ratio_pct,
        current_day.close_krw,
        current_day.balance_qty - five_back.balance_qty as balance_qty_change_5d,
        current_day.balance_qty - twenty_back.balance_qty as balance_qty_change_20d,
        current_day.balance_ratio_pct - five_back.balance_ratio_pct as balance_ratio_change_5d,
        current_day.balance_ratio_pct - twenty_back.balance_ratio_pct as balance_ratio_change_20d
    from balances as current_day
    left join balances as five_back
        on
            current_day.ticker = five_back.ticker
            and current_day.session_number - 5 = five_back.session_number
    left join balances as twenty_back
        on
            current_day.ticker = twenty_back.ticker
            and current_day.session_number - 20 = twenty_back.session_number
    {% if is_incremental() %}
        where {{ in_window('current_day.trade_date') }}
    {% endif %}

),

final as (

    select
        changes.trade_date,
        changes.ticker,
        changes.market,
        changes.name,
        changes.balance_qty,
        changes.balance_krw,
        changes.balance_ratio_pct,
        changes.balance_qty_change_5d,
        changes.balance_qty_change_20d,
        changes.balance_ratio_change_5d,
        changes.balance_ratio_change_20d,
        trade_windows.total_volume,
        trade_windows.avg_volume_20d,
        trade_windows.volume_sessions_20d,
        case
            when trade_windows.volume_sessions_20d = 20
                then changes.balance_qty / nullif(trade_windows.avg_volume_20d, 0)
        end as days_to_cover,
        trade_windows.short_volume,
        trade_windows.short_volume_share_pct,
        trade_windows.short_value_share_pct,
        trade_windows.short_volume_share_pct_20d,
        ban_distances.nearest_ban_type,
        ban_distances.share_gap_pct as ban_share_gap_pct,
        ban_distances.multiple_gap as ban_multiple_gap,
        ban_distances.change_gap_pct as ban_change_gap_pct,
        coalesce(changes.close_krw, prices.close) as close_krw,
        foreign_changes.foreign_share_pct,
        foreign_changes.foreign_share_change_20d
    from changes
    left join trade_windows
        on
            changes.ticker = trade_windows.ticker
            and changes.trade_date = trade_windows.trade_date
    left join ban_distances
        on
            changes.ticker = ban_distances.ticker
            and changes.trade_date = ban_distances.trade_date
    left join prices
        on
            changes.ticker = prices.ticker
            and changes.trade_date = prices.trade_date
    left join foreign_changes
        on
            changes.ticker = foreign_changes.ticker
            and changes.trade_date = foreign_changes.trade_date

)

select * from final
