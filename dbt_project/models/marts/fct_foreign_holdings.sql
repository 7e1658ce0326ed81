with

holdings as (

    {{ select_in_window(ref('stg_krx__foreign_holdings')) }}

),

final as (

    select
        trade_date,
        ticker,
        market,
        name,
        listed_shares,
        foreign_qty,
        100.0 * foreign_qty / nullif(listed_shares, 0) as foreign_share_pct,
        reported_foreign_share_pct,
        foreign_limit_qty,
        foreign_limit_qty < listed_shares as has_foreign_limit,
        100.0 * foreign_qty / nullif(foreign_limit_qty, 0) as limit_exhaustion_pct,
        reported_limit_exhaustion_pct,
        close_krw,
        source_file
    from holdings

)

select * from final
