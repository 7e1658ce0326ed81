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
        cast(source_file as varchar) as source_file,
        cast(file_sha256 as varchar) as file_sha256,
        cast(row_number as integer) as source_row_number,
        cast(ingested_at as timestamp) as ingested_at

    from source

)

select * from renamed
