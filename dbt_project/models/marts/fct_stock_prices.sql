with

prices as (

    {{ select_in_window(ref('stg_krx__stock_prices')) }}

),

final as (

    select
        trade_date,
        ticker,
        market,
        isin,
        name,
        board,
        -- KRX prints 0 for open, high and low of a ticker that did not trade: not a price
        case when volume > 0 then open end as open,
        case when volume > 0 then high end as high,
        case when volume > 0 then low end as low,
        close,
        change,
        change_pct,
        volume,
        value_krw,
        market_cap_krw,
        listed_shares,
        source_file
    from prices

)

select * from final
