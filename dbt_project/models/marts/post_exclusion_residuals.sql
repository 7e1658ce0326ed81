-- Residual short balances of tickers after they left KOSPI 200 / KOSDAQ 150.
-- excluded_on is the first snapshot that no longer lists the ticker
-- (dim_index_memberships.valid_to).
-- The balance at exclusion is the ticker's last balance before excluded_on (its last session as a
-- member). Decay is followed from excluded_on until the ticker re-enters the index (or for good):
-- sessions_to_half / sessions_to_zero count KRX sessions from excluded_on (0 = reached on the
-- exclusion day itself) to the first session whose balance_qty is <= half of / equal to zero;
-- null while not reached.
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

    select * from exclusions
    where excluded_on is not null

),

balances as (

    select
        fct_short_balances.trade_date,
        fct_short_balances.ticker,
        fct_short_balances.balance_qty,
        fct_short_balances.balance_krw,
        fct_short_balances.balance_ratio_pct,
        calendar.session_number
    from {{ ref('fct_short_balances') }} as fct_short_balances
    inner join calendar
        on fct_short_balances.trade_date = calendar.session_date
    where fct_short_balances.ticker in (select excluded.ticker from excluded)

),

at_exclusion as (

    select
        excluded.*,
        balances.trade_date as balance_at_exclusion_date,
        balances.balance_qty as balance_at_exclusion_qty,
        balances.balance_krw as balance_at_exclusion_krw,
        balances.balance_ratio_pct as balance_at_exclusion_ratio_pct
    from excluded
    asof left join balances
        on
            excluded.ticker = balances.ticker
            and excluded.excluded_on > balances.trade_date

),

after_exclusion as (

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
                at_exclusion.re_entered_on is null
                or at_exclusion.re_entered_on > balances.trade_date
            )
    group by at_exclusion.index_code, at_exclusion.ticker, at_exclusion.excluded_on

),

final as (

    select
        at_exclusion.index_code,
        at_exclusion.ticker,
        at_exclusion.excluded_on,
        at_exclusion.exit_kind,
        at_exclusion.re_entered_on,
        at_exclusion.balance_at_exclusion_date,
        at_exclusion.balance_at_exclusion_qty,
        at_exclusion.balance_at_exclusion_krw,
        at_exclusion.balance_at_exclusion_ratio_pct,
        after_exclusion.latest_balance_date,
        after_exclusion.latest_balance_qty,
        after_exclusion.latest_balance_krw,
        after_exclusion.latest_balance_ratio_pct,
        after_exclusion.reached_half_on,
        after_exclusion.reached_zero_on,
        half_day.session_number - exclusion_day.session_number as sessions_to_half,
        zero_day.session_number - exclusion_day.session_number as sessions_to_zero
    from at_exclusion
    left join after_exclusion
        on
            at_exclusion.index_code = after_exclusion.index_code
            and at_exclusion.ticker = after_exclusion.ticker
            and at_exclusion.excluded_on = after_exclusion.excluded_on
    left join calendar as exclusion_day
        on at_exclusion.excluded_on = exclusion_day.session_date
    left join calendar as half_day
        on after_exclusion.reached_half_on = half_day.session_date
    left join calendar as zero_day
        on after_exclusion.reached_zero_on = zero_day.session_date

)

select * from final
