with

source as (

    select * from {{ source('raw', 'krx_short_investor_value') }}

),

renamed as (

    select
        {{ investor_type_columns() }}

        ---------- lineage
        {{ lineage_columns() }}

    from source

)

select * from renamed
