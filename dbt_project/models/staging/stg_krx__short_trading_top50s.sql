with

source as (

    select * from {{ source('raw', 'krx_short_trading_top50') }}

),

renamed as (

    select
        ---------- ids
        cast(trade_date as date) as trade_date,
        cast(market as varchar) as market,
        cast(rank as integer) as krx_rank,
        cast(isu_cd as varchar) as ticker,

        ---------- attributes
        cast(isu_cd_full as varchar) as isin,
        cast(isu_abbrv as varchar) as name,
        cast(mkt_id as varchar) as market_id,

        ---------- figures
        cast(cvsrtsell_trdval as bigint) as short_value_krw,
        cast(acc_trdval as bigint) as total_value_krw,
        cast(tdd_srtsell_wt as double) as short_share_pct,
        cast(tdd_srtsell_trdval_incdec_rt as double) as short_value_multiple,
        cast(valu_pd_avg_srtsell_wt as double) as avg_short_share_40d_pct,
        cast(valu_pd_cmp_tdd_srtsell_rto as double) as short_share_to_avg,
        cast(prc_yd as double) as change_pct,

        ---------- lineage
        {{ lineage_columns() }}

    from source

)

select * from renamed
