{#
    The half-open window [start, end) of an incremental run, from KRX_DBT_MIN_DATE and
    KRX_DBT_MAX_DATE (ISO dates; Dagster sets them per run, unset = all history). They are read
    only while executing, never while parsing, so a new window keeps dbt's partial parse (a
    changed --vars would re-parse the whole project on every run).
#}
{% macro run_window() -%}
    {%- if execute -%}
        {{ return((env_var("KRX_DBT_MIN_DATE", "1900-01-01"), env_var("KRX_DBT_MAX_DATE", "9999-12-31"))) }}
    {%- else -%}
        {{ return(("1900-01-01", "9999-12-31")) }}
    {%- endif -%}
{%- endmacro %}

{#
    The run window as a predicate on a date column. `lookback_days` widens the lower bound for
    models with trailing windows.
#}
{% macro in_window(column, lookback_days=0) -%}
    {%- set window = run_window() -%}
    {{ column }} >= cast('{{ window[0] }}' as date){% if lookback_days %} - {{ lookback_days | int }}{% endif %}
    and {{ column }} < cast('{{ window[1] }}' as date)
{%- endmacro %}

{#
    dbt's `where` test config, with the run window filled in at execution time: a test
    restricted with `where: "trade_date >= __min_date__ and trade_date < __max_date__"` checks
    only the rows the run wrote (YAML configs are rendered while parsing, so they cannot call
    run_window themselves).
#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get("where", "") -%}
    {%- if where -%}
        {%- set window = run_window() -%}
        {%- set where = where
            | replace("__min_date__", "cast('" ~ window[0] ~ "' as date)")
            | replace("__max_date__", "cast('" ~ window[1] ~ "' as date)") -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#
    An import CTE of an incremental model: every row of `relation`, or in an incremental run
    only the rows of the run's window (on `column`).
#}
{% macro select_in_window(relation, column='trade_date') -%}
    select * from {{ relation }}
    {% if is_incremental() %}
        where {{ in_window(column) }}
    {% endif %}
{%- endmacro %}
