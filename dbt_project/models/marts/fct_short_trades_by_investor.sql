{#- investor_type -> its column in the staging views -#}
{%- set investor_types = {
    'institutions': 'institutions',
    'individuals': 'individuals',
    'foreigners': 'foreigners',
    'others': 'other_investors',
} -%}

with

volumes as (

    {{ select_in_window(ref('stg_krx__short_investor_volumes')) }}

),

amounts as (

    {{ select_in_window(ref('stg_krx__short_investor_values')) }}

),

trades as (

    {{ select_in_window(ref('fct_short_trades')) }}

),

measures as (

    select
        'volume' as measure,
        *
    from volumes
    union all by name
    select
        'value' as measure,
        *
    from amounts

),

by_type as (

    select
        trade_date,
        market,
        investor_type,
        max(amount) filter (where measure = 'volume') as short_volume,
        max(total) filter (where measure = 'volume') as market_short_volume,
        max(amount) filter (where measure = 'value') as short_value_krw,
        max(total) filter (where measure = 'value') as market_short_value_krw
    from (
        {% for investor_type, column in investor_types.items() %}
            select
                trade_date,
                market,
                measure,
                total,
                '{{ investor_type }}' as investor_type,
                {{ column }} as amount
            from measures
            {% if not loop.last %}union all{% endif %}
        {% endfor %}
    ) as amounts_by_type
    group by trade_date, market, investor_type

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
