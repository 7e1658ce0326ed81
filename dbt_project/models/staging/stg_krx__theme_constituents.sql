with

source as (

    select * from {{ source('raw', 'krx_theme_constituents') }}

),

renamed as (

    select
        ---------- ids
        cast(snapshot_date as date) as snapshot_date,
        cast(index_code as varchar) as index_code,
        cast(isu_srt_cd as varchar) as ticker,

        ---------- attributes
        cast(isu_abbrv as varchar) as name,
        cast(idx_id as varchar) as index_id,

        ---------- prices on the snapshot day
        cast(tdd_clsprc as bigint) as close_krw,
        cast(fluc_tp_cd as varchar) as change_direction_code,
        cast(str_cmp_prc as bigint) as change_krw,
        cast(fluc_rt as double) as change_pct,
        cast(mktcap as bigint) as market_cap_krw,

        ---------- lineage
        cast(source_file as varchar) as source_file,
        cast(file_sha256 as varchar) as file_sha256,
        cast(row_number as integer) as source_row_number,
        cast(ingested_at as timestamp) as ingested_at

    from source

)

select * from renamed
