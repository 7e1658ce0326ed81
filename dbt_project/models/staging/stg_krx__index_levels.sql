with

source as (

    select * from {{ source('raw', 'krx_index_ohlcv') }}

),

renamed as (

    select
        ---------- ids
        cast(trd_dd as date) as trade_date,
        cast(index_code as varchar) as index_code,

        ---------- levels
        cast(opnprc_idx as double) as open,
        cast(hgprc_idx as double) as high,
        cast(lwprc_idx as double) as low,
        cast(clsprc_idx as double) as close,
        cast(fluc_tp_cd as varchar) as change_direction_code,
        cast(prv_dd_cmpr as double) as change,
        cast(updn_rate as double) as change_pct,

        ---------- activity
        cast(acc_trdvol as bigint) as volume,
        cast(acc_trdval as bigint) as value_krw,
        cast(mktcap as bigint) as market_cap_krw,

        ---------- lineage
        {{ lineage_columns() }}

    from source

)

select * from renamed
