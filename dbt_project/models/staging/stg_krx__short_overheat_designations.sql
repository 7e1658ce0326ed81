with

source as (

    select * from {{ source('raw', 'krx_short_overheat') }}

),

renamed as (

    select
        ---------- ids
        cast(isu_cd as varchar) as ticker,
        cast(bas_dd as date) as detected_on,

        ---------- dates
        cast(mktact_appl_dd as date) as ban_on,
        cast(releas_dd as date) as released_on,

        ---------- attributes
        cast(isu_cd_full as varchar) as isin,
        cast(mkt_id as varchar) as market_id,
        cast(srtsell_impsbl_dtec_tp_nm as varchar) as designation_label,

        ---------- KRX's statistics
        cast(valu_pd_tr_dys as integer) as window_sessions,
        cast(tdd_srtsell_wt as double) as short_share_pct,
        cast(prc_yd as double) as change_pct,
        cast(tdd_srtsell_trdval_incdec_rt as double) as short_value_multiple,
        cast(valu_pd_avg_srtsell_wt as double) as avg_short_share_40d_pct,

        ---------- lineage
        cast(source_file as varchar) as source_file,
        cast(row_number as integer) as source_row_number

    from source

)

select * from renamed
