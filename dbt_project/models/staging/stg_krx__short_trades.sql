with

source as (

    select * from {{ source('raw', 'krx_short_trading') }}

),

renamed as (

    select
        ---------- ids
        cast(trade_date as date) as trade_date,
        cast(isu_cd as varchar) as ticker,

        ---------- attributes
        cast(market as varchar) as market,
        cast(isu_abbrv as varchar) as name,
        cast(secugrp_nm as varchar) as security_group,

        ---------- volumes (shares)
        cast(cvsrtsell_trdvol as bigint) as short_volume,
        cast(uptickrule_appl_trdvol as bigint) as short_volume_uptick_rule,
        cast(uptickrule_excpt_trdvol as bigint) as short_volume_exempt,
        cast(acc_trdvol as bigint) as total_volume,
        cast(trdvol_wt as double) as reported_volume_share_pct,

        ---------- values (KRW)
        cast(cvsrtsell_trdval as bigint) as short_value_krw,
        cast(uptickrule_appl_trdval as bigint) as short_value_uptick_rule_krw,
        cast(uptickrule_excpt_trdval as bigint) as short_value_exempt_krw,
        cast(acc_trdval as bigint) as total_value_krw,
        cast(trdval_wt as double) as reported_value_share_pct,

        ---------- lineage
        {{ lineage_columns() }}

    from source

)

select * from renamed
