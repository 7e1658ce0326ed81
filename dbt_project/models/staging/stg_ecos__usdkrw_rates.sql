with

source as (

    select * from {{ source('raw', 'ecos_usdkrw') }}

),

renamed as (

    select
        ---------- ids
        cast(time as date) as rate_date,

        ---------- attributes
        cast(stat_code as varchar) as stat_code,
        cast(item_code1 as varchar) as item_code,
        cast(unit_name as varchar) as unit_name,

        ---------- measures
        cast(data_value as double) as usdkrw,

        ---------- lineage
        {{ lineage_columns() }}

    from source

)

select * from renamed
