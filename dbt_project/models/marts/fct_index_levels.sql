with

levels as (

    select * from {{ ref('stg_krx__index_levels') }}
    {% if is_incremental() %}
        where {{ in_window('trade_date') }}
    {% endif %}

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
