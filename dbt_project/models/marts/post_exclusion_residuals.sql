-- Residual short balances of tickers after they left KOSPI 200 / KOSDAQ 150, one row per exit
-- of dim_index_memberships (excluded_on = valid_to). The balance at exclusion is the ticker's
-- last balance before excluded_on (its last session as a member). Decay is measured only while
-- new short sales of the ticker were not allowed: from excluded_on until it re-enters the index
-- or a regime allowing short sales of all listed stocks begins, whichever comes first
-- (decay_ends_on, exclusive; decay_ended_by says which). An exclusion under such a regime has
-- nothing to measure (not_restricted). sessions_to_half / sessions_to_zero count KRX sessions
-- from excluded_on (0 = reached on the exclusion day) to the first session in the window whose
-- balance_qty is <= half of / equal to zero; null while not reached and null when there was no
-- balance to decay (has_balance_to_decay false).
with

memberships as (

    select * from {{ ref('dim_index_memberships') }}

),

calendar as (

    select
        session_date,
        session_number
    from {{ ref('dim_trading_calendar') }}

),

regimes as (

    select * from {{ ref('dim_short_sale_regimes') }}

),

exclusions as (

    select
        index_code,
        ticker,
        valid_to as excluded_on,
        exit_kind,
        lead(valid_from) over (
            partition by index_code, ticker
            order by valid_from
        ) as re_entered_on
    from memberships

),

excluded as (

    select
        exclusions.*,
        regimes.regime_id as exclusion_regime_id,
        regimes.scope as exclusion_regime_scope
    from exclusions
    left join regimes
        on
            exclusions.excluded_on >= regimes.starts_on
            and (regimes.ends_on is null or exclusions.excluded_on <= regimes.ends_on)
    where exclusions.excluded_on is not null

),

-- The first day new short sales were allowed again for a non-member: the start of the next
-- regime open to all listed stocks (the exclusion day itself under such a regime).
shorts_allowed as (

    select
        excluded.index_code,
        excluded.ticker,
        excluded.excluded_on,
        case
            when excluded.exclusion_regime_scope = 'all_listed' then excluded.excluded_on
            else min(regimes.starts_on)
        end as shorts_allowed_on
    from excluded
    left join regimes
        on
            excluded.excluded_on < regimes.starts_on
            and regimes.scope = 'all_listed'
    group by
        excluded.index_code,
        excluded.ticker,
        excluded.excluded_on,
        excluded.exclusion_regime_scope

),

windows as (

    select
        excluded.*,
        least(excluded.re_entered_on, shorts_allowed.shorts_allowed_on) as decay_ends_on,
        case
            when excluded.exclusion_regime_scope = 'all_listed' then 'not_restricted'
            when excluded.re_entered_on <= shorts_allowed.shorts_allowed_on then 're_entry'
            when shorts_allowed.shorts_allowed_on is not null then 'regime_change'
            when excluded.re_entered_on is not null then 're_entry'
        end as decay_ended_by
    from excluded
    inner join shorts_allowed
        on
            excluded.index_code = shorts_allowed.index_code
            and excluded.ticker = shorts_allowed.ticker
            and excluded.excluded_on = shorts_allowed.excluded_on

),

balances as (

    select
        fct_short_balances.trade_date,
        fct_short_balances.ticker,
        fct_short_balances.balance_qty,
        fct_short_balances.balance_krw,
        fct_short_balances.balance_ratio_pct
    from {{ ref('fct_short_balances') }} as fct_short_balances
    where fct_short_balances.ticker in (select windows.ticker from windows)

),

at_exclusion as (

    select
        windows.*,
        balances.trade_date as balance_at_exclusion_date,
        balances.balance_qty as balance_at_exclusion_qty,
        balances.balance_krw as balance_at_exclusion_krw,
        balances.balance_ratio_pct as balance_at_exclusion_ratio_pct,
        coalesce(balances.balance_qty > 0, false) as has_balance_to_decay
    from windows
    asof left join balances
        on
            windows.ticker = balances.ticker
            and windows.excluded_on > balances.trade_date

),

in_window as (

    select
        at_exclusion.index_code,
        at_exclusion.ticker,
        at_exclusion.excluded_on,
        min(balances.trade_date) filter (
            where balances.balance_qty <= at_exclusion.balance_at_exclusion_qty / 2.0
        ) as reached_half_on,
        min(balances.trade_date) filter (where balances.balance_qty = 0) as reached_zero_on,
        max(balances.trade_date) as latest_balance_date,
        arg_max(balances.balance_qty, balances.trade_date) as latest_balance_qty,
        arg_max(balances.balance_krw, balances.trade_date) as latest_balance_krw,
        arg_max(balances.balance_ratio_pct, balances.trade_date) as latest_balance_ratio_pct
    from at_exclusion
    inner join balances
        on
            at_exclusion.ticker = balances.ticker
            and at_exclusion.excluded_on <= balances.trade_date
            and (
                at_exclusion.decay_ends_on is null
                or at_exclusion.decay_ends_on > balances.trade_date
            )
    group by at_exclusion.index_code, at_exclusion.ticker, at_exclusion.excluded_on

),

decay as (

    select
        at_exclusion.*,
        in_window.latest_balance_date,
        in_window.latest_balance_qty,
        in_window.latest_balance_krw,
        in_window.latest_balance_ratio_pct,
        case when at_exclusion.has_balance_to_decay then in_window.reached_half_on end
            as reached_half_on,
        case when at_exclusion.has_balance_to_decay then in_window.reached_zero_on end
            as reached_zero_on
    from at_exclusion
    left join in_window
        on
            at_exclusion.index_code = in_window.index_code
            and at_exclusion.ticker = in_window.ticker
            and at_exclusion.excluded_on = in_window.excluded_on

),

final as (

    select
        decay.index_code,
        decay.ticker,
        decay.excluded_on,
        decay.exit_kind,
        decay.re_entered_on,
        decay.exclusion_regime_id,
        decay.exclusion_regime_scope,
        decay.decay_ends_on,
        decay.decay_ended_by,
        decay.balance_at_exclusion_date,
        decay.balance_at_exclusion_qty,
        decay.balance_at_exclusion_krw,
        decay.balance_at_exclusion_ratio_pct,
        decay.has_balance_to_decay,
        decay.latest_balance_date,
        decay.latest_balance_qty,
        decay.latest_balance_krw,
        decay.latest_balance_ratio_pct,
        decay.reached_half_on,
        decay.reached_zero_on,
        half_day.session_number - exclusion_day.session_number as sessions_to_half,
        zero_day.session_number - exclusion_day.session_number as sessions_to_zero
    from decay
    left join calendar as exclusion_day
        on decay.excluded_on = exclusion_day.session_date
    left join calendar as half_day
        on decay.reached_half_on = half_day.session_date
    left join calendar as zero_day
        on decay.reached_zero_on = zero_day.session_date

)

select * from final
