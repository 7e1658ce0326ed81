with

levels as (

    {{ select_in_window(ref('stg_krx__index_levels')) }}

),

final as (

    select
        trade_date,
        index_code,
        open,
        high,
        low,
        close,
        change,
        change_pct,
        change_direction_code,
        volume,
        value_krw,
        market_cap_krw,
        source_file
    from levels

)

select * from final
