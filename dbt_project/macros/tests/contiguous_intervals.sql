{#
    Interval test: within each partition (or the whole model), the intervals tile time without
    gaps or overlaps and only the last one is open (upper bound null).
    With upper_bound_inclusive=true (date ranges such as "2020-03-16 to 2021-05-02") the next
    interval starts the day after the upper bound; otherwise it starts on the upper bound.
#}
{% test contiguous_intervals(
    model, lower_bound_column, upper_bound_column, partition_by=[], upper_bound_inclusive=true
) %}

{%- set over_partition -%}
    {%- if partition_by %}partition by {{ partition_by | join(', ') }} {% endif -%}
    order by {{ lower_bound_column }}
{%- endset %}

with

ordered as (

    select
        {% for column in partition_by %}{{ column }}, {% endfor %}
        {{ lower_bound_column }} as lower_bound,
        {{ upper_bound_column }} as upper_bound,
        lead({{ lower_bound_column }}) over ({{ over_partition }}) as next_lower_bound
    from {{ model }}

)

select *
from ordered
where
    upper_bound {{ '<' if upper_bound_inclusive else '<=' }} lower_bound
    or (next_lower_bound is not null and upper_bound is null)
    or next_lower_bound
    <> upper_bound{% if upper_bound_inclusive %} + interval 1 day{% endif %}

{% endtest %}
