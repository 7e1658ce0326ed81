{#
    Interval test: within each partition, intervals [lower, upper) do not overlap, each is
    non-empty, and only the last one may be open (upper null).
#}
{% test non_overlapping_intervals(model, lower_bound_column, upper_bound_column, partition_by) %}

with

ordered as (

    select
        {{ partition_by | join(', ') }},
        {{ lower_bound_column }} as lower_bound,
        {{ upper_bound_column }} as upper_bound,
        lead({{ lower_bound_column }}) over (
            partition by {{ partition_by | join(', ') }}
            order by {{ lower_bound_column }}
        ) as next_lower_bound
    from {{ model }}

)

select *
from ordered
where
    upper_bound <= lower_bound
    or (next_lower_bound is not null and upper_bound is null)
    or next_lower_bound < upper_bound

{% endtest %}
