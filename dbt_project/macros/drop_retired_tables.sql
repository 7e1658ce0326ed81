{#
    Tables that earlier versions of the project built and this one does not (a model renamed or
    removed), listed in the `retired_tables` var: dropped at the start of every run, so an
    upgraded warehouse does not keep them. Only the listed tables, never anything else a user
    keeps in the layer schemas.
#}
{% macro drop_retired_tables() -%}
    {%- for table in var("retired_tables", []) -%}
        drop table if exists {{ table }};
    {% endfor -%}
{%- endmacro %}
