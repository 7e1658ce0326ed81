with

source as (

    select * from {{ source('raw', 'krx_short_investor_value') }}

),

renamed as (

    select
        ---------- ids
        cast(trd_dd as date) as trade_date,
        cast(market as varchar) as market,

        ---------- short value by investor type
        cast(str_const_val1 as bigint) as institutions,
        cast(str_const_val2 as bigint) as individuals,
        cast(str_const_val3 as bigint) as foreigners,
        cast(str_const_val4 as bigint) as other_investors,
        cast(str_const_val5 as bigint) as total,

        ---------- lineage
        cast(source_file as varchar) as source_file,
        cast(file_sha256 as varchar) as file_sha256,
        cast(row_number as integer) as source_row_number,
        cast(ingested_at as timestamp) as ingested_at

    from source

)

select * from renamed
