{#
    The half-open run window [min_date, max_date) of an incremental model, as a predicate on a
    date column. Dagster passes the partition window as --vars; the defaults in dbt_project.yml
    cover all history. `lookback_days` widens the lower bound for models with trailing windows.
#}
{% macro in_window(column, lookback_days=0) -%}
    {%- if lookback_days -%}
        {{ column }} >= cast('{{ var("min_date") }}' as date) - {{ lookback_days | int }}
    {%- else -%}
        {{ column }} >= cast('{{ var("min_date") }}' as date)
    {%- endif %}
    and {{ column }} < cast('{{ var("max_date") }}' as date)
{%- endmacro %}
