with

source as (

    select * from {{ source('raw', 'krx_stock_ohlcv') }}

),

renamed as (

    select
        ---------- ids
        cast(trade_date as date) as trade_date,
        cast(isu_srt_cd as varchar) as ticker,

        ---------- attributes
        cast(market as varchar) as market,
        cast(isu_cd as varchar) as isin,
        cast(isu_abbrv as varchar) as name,
        cast(mkt_nm as varchar) as market_name,
        cast(mkt_id as varchar) as market_id,
        cast(sect_tp_nm as varchar) as board,

        ---------- prices (KRW)
        cast(tdd_opnprc as bigint) as open,
        cast(tdd_hgprc as bigint) as high,
        cast(tdd_lwprc as bigint) as low,
        cast(tdd_clsprc as bigint) as close,
        cast(fluc_tp_cd as varchar) as change_direction_code,
        cast(cmpprevdd_prc as bigint) as change,
        cast(fluc_rt as double) as change_pct,

        ---------- activity
        cast(acc_trdvol as bigint) as volume,
        cast(acc_trdval as bigint) as value_krw,
        cast(mktcap as bigint) as market_cap_krw,
        cast(list_shrs as bigint) as listed_shares,

        ---------- lineage
        {{ lineage_columns() }}

    from source

)

select * from renamed
