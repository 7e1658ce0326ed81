with

source as (

    select * from {{ source('raw', 'krx_short_balance_top50') }}

),

renamed as (

    select
        ---------- ids
        cast(trade_date as date) as trade_date,
        cast(market as varchar) as market,
        cast(rank as integer) as krx_rank,
        cast(isu_cd as varchar) as ticker,

        ---------- attributes
        cast(isu_cd2 as varchar) as isin,
        cast(isu_abbrv as varchar) as name,
        cast(mkt_id as varchar) as market_id,

        ---------- figures
        cast(bal_qty as bigint) as balance_qty,
        cast(list_shrs as bigint) as listed_shares,
        cast(bal_amt as bigint) as balance_krw,
        cast(mktcap as bigint) as market_cap_krw,
        cast(bal_rto as double) as reported_balance_ratio_pct,

        ---------- lineage
        {{ lineage_columns() }}

    from source

)

select * from renamed
