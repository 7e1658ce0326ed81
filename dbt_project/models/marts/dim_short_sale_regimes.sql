with

regimes as (

    select * from {{ ref('short_sale_regimes') }}

),

final as (

    select
        cast(regime_id as integer) as regime_id,
        cast(starts_on as date) as starts_on,
        cast(ends_on as date) as ends_on,
        cast(scope as varchar) as scope,
        cast(description as varchar) as description,
        cast(source as varchar) as source,
        ends_on is null as is_current
    from regimes

)

select * from final
