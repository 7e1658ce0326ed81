with

trades as (

    {{ select_in_window(ref('stg_krx__short_trades')) }}

),

final as (

    select
        trade_date,
        ticker,
        market,
        name,
        security_group,
        short_volume,
        short_volume_uptick_rule,
        short_volume_exempt,
        total_volume,
        short_value_krw,
        short_value_uptick_rule_krw,
        short_value_exempt_krw,
        total_value_krw,
        100.0 * short_volume / nullif(total_volume, 0) as short_volume_share_pct,
        100.0 * short_value_krw / nullif(total_value_krw, 0) as short_value_share_pct,
        reported_volume_share_pct,
        reported_value_share_pct,
        source_file
    from trades

)

select * from final
