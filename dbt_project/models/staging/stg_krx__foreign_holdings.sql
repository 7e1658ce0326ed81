with

source as (

    select * from {{ source('raw', 'krx_foreign_holdings') }}

),

renamed as (

    select
        ---------- ids
        cast(trade_date as date) as trade_date,
        cast(isu_srt_cd as varchar) as ticker,

        ---------- attributes
        cast(market as varchar) as market,
        cast(isu_abbrv as varchar) as name,

        ---------- price (KRW)
        cast(tdd_clsprc as bigint) as close_krw,
        cast(fluc_tp_cd as varchar) as change_direction_code,
        cast(cmpprevdd_prc as bigint) as change,
        cast(fluc_rt as double) as change_pct,

        ---------- holdings (shares)
        cast(list_shrs as bigint) as listed_shares,
        cast(forn_hd_qty as bigint) as foreign_qty,
        cast(forn_shr_rt as double) as reported_foreign_share_pct,
        cast(forn_ord_lmt_qty as bigint) as foreign_limit_qty,
        cast(forn_lmt_exhst_rt as double) as reported_limit_exhaustion_pct,

        ---------- lineage
        {{ lineage_columns() }}

    from source

)

select * from renamed
