{#- investor_type -> its column in the staging views -#}
{%- set investor_types = {
    'institutions': 'institutions',
    'individuals': 'individuals',
    'foreigners': 'foreigners',
    'others': 'other_investors',
} -%}

with

volumes as (

    select * from {{ ref('stg_krx__short_investor_volumes') }}
    {% if is_incremental() %}
        where {{ in_window('trade_date') }}
    {% endif %}

),

amounts as (

    select * from {{ ref('stg_krx__short_investor_values') }}
    {% if is_incremental() %}
        where {{ in_window('trade_date') }}
    {% endif %}

),

trades as (

    select * from {{ ref('fct_short_trades') }}
    {% if is_incremental() %}
        where {{ in_window('trade_date') }}
    {% endif %}

),

volume_by_type as (

    {% for investor_type, column in investor_types.items() %}
        select
            trade_date,
            market,
            '{{ investor_type }}' as investor_type,
            {{ column }} as short_volume,
            total as market_short_volume
        from volumes
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

value_by_type as (

    {% for investor_type, column in investor_types.items() %}
        select
            trade_date,
            market,
            '{{ investor_type }}' as investor_type,
            {{ column }} as short_value_krw,
            total as market_short_value_krw
        from amounts
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

by_type as (

    select
        coalesce(v.trade_date, a.trade_date) as trade_date,
        coalesce(v.market, a.market) as market,
        coalesce(v.investor_type, a.investor_type) as investor_type,
        v.short_volume,
        v.market_short_volume,
        a.short_value_krw,
        a.market_short_value_krw
    from volume_by_type as v
    full outer join value_by_type as a
        on
            v.trade_date = a.trade_date
            and v.market = a.market
            and v.investor_type = a.investor_type

),

ticker_totals as (

    select
        trade_date,
        market,
        cast(sum(short_volume) as bigint) as ticker_short_volume,
        cast(sum(short_value_krw) as bigint) as ticker_short_value_krw
    from trades
    group by trade_date, market

),

final as (

    select
        by_type.trade_date,
        by_type.market,
        by_type.investor_type,
        by_type.short_volume,
        by_type.short_value_krw,
        100.0 * by_type.short_volume
        / nullif(by_type.market_short_volume, 0) as short_volume_share_pct,
        100.0 * by_type.short_value_krw
        / nullif(by_type.market_short_value_krw, 0) as short_value_share_pct,
        by_type.market_short_volume,
        by_type.market_short_value_krw,
        ticker_totals.ticker_short_volume,
        ticker_totals.ticker_short_value_krw,
        by_type.market_short_volume
        - ticker_totals.ticker_short_volume as short_volume_difference,
        by_type.market_short_value_krw
        - ticker_totals.ticker_short_value_krw as short_value_difference_krw
    from by_type
    left join ticker_totals
        on
            by_type.trade_date = ticker_totals.trade_date
            and by_type.market = ticker_totals.market

)

select * from final
