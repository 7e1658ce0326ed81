with

source as (

    select * from {{ source('raw', 'krx_theme_constituents') }}

),

renamed as (

    select
        {{ index_constituent_columns() }}

        ---------- lineage
        {{ lineage_columns() }}

    from source

)

select * from renamed
