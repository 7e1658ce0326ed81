with

source as (

    select * from {{ source('raw', 'krx_sectors') }}

),

renamed as (

    select
        ---------- ids
        cast(snapshot_date as date) as snapshot_date,
        cast(isu_srt_cd as varchar) as ticker,

        ---------- attributes
        cast(market as varchar) as market,
        cast(isu_abbrv as varchar) as name,
        cast(mkt_tp_nm as varchar) as market_name,
        cast(idx_ind_nm as varchar) as industry,

        ---------- price (KRW)
        cast(tdd_clsprc as bigint) as close_krw,
        cast(fluc_tp_cd as varchar) as change_direction_code,
        cast(cmpprevdd_prc as bigint) as change,
        cast(fluc_rt as double) as change_pct,
        cast(mktcap as bigint) as market_cap_krw,

        ---------- lineage
        {{ lineage_columns() }}

    from source

)

select * from renamed
