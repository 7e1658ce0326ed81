with

source as (

    select * from {{ source('raw', 'krx_securities') }}

),

renamed as (

    select
        ---------- ids
        cast(snapshot_date as date) as snapshot_date,
        cast(isu_srt_cd as varchar) as ticker,
        cast(isu_cd as varchar) as isin,

        ---------- attributes
        cast(isu_abbrv as varchar) as name,
        cast(isu_nm as varchar) as full_name,
        cast(isu_eng_nm as varchar) as english_name,
        cast(mkt_tp_nm as varchar) as market_type,
        case
            when mkt_tp_nm = 'KOSPI' then 'KOSPI'
            when mkt_tp_nm in ('KOSDAQ', 'KOSDAQ GLOBAL') then 'KOSDAQ'
            when mkt_tp_nm = 'KONEX' then 'KONEX'
        end as market,
        cast(secugrp_nm as varchar) as security_group,
        cast(sect_tp_nm as varchar) as section,
        cast(kind_stkcert_tp_nm as varchar) as share_kind,
        cast(parval as varchar) as par_value,
        cast(list_dd as date) as listed_on,

        ---------- measures
        cast(list_shrs as bigint) as listed_shares,

        ---------- lineage
        {{ lineage_columns() }}

    from source

)

select * from renamed
