{#
    Column lists that several staging models share: the renames and casts are stated once.
#}

{# The four lineage columns every raw table carries (file, its hash, row, load time). #}
{% macro lineage_columns() -%}
        cast(source_file as varchar) as source_file,
        cast(file_sha256 as varchar) as file_sha256,
        cast(row_number as integer) as source_row_number,
        cast(ingested_at as timestamp) as ingested_at
{%- endmacro %}

{# An index snapshot's rows (KRX MDCSTAT00601): the index, the stock and its prices that day. #}
{% macro index_constituent_columns() -%}
        ---------- ids
        cast(snapshot_date as date) as snapshot_date,
        cast(index_code as varchar) as index_code,
        cast(isu_srt_cd as varchar) as ticker,

        ---------- attributes
        cast(isu_abbrv as varchar) as name,
        cast(idx_id as varchar) as index_id,

        ---------- prices on the snapshot day
        cast(tdd_clsprc as bigint) as close_krw,
        cast(fluc_tp_cd as varchar) as change_direction_code,
        cast(str_cmp_prc as bigint) as change_krw,
        cast(fluc_rt as double) as change_pct,
        cast(mktcap as bigint) as market_cap_krw,
{%- endmacro %}

{# A market's short selling by investor type (KRX MDCSTAT30301, volume or value). #}
{% macro investor_type_columns() -%}
        ---------- ids
        cast(trd_dd as date) as trade_date,
        cast(market as varchar) as market,

        ---------- short selling by investor type
        cast(str_const_val1 as bigint) as institutions,
        cast(str_const_val2 as bigint) as individuals,
        cast(str_const_val3 as bigint) as foreigners,
        cast(str_const_val4 as bigint) as other_investors,
        cast(str_const_val5 as bigint) as total,
{%- endmacro %}
