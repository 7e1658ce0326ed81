-- A ticker's new version opens only when its name or market changes: consecutive versions of
-- a ticker differ in one of them (a rename back to an earlier name is a new version).
with

versions as (

    select
        ticker,
        valid_from,
        name,
        market,
        lag(name) over by_ticker as previous_name,
        lag(market) over by_ticker as previous_market,
        lag(valid_from) over by_ticker as previous_valid_from
    from {{ ref('dim_securities') }}
    window by_ticker as (partition by ticker order by valid_from)

),

final as (

    select * from versions
    where
        previous_valid_from is not null
        and name is not distinct from previous_name
        and market is not distinct from previous_market

)

select * from final
