{#
    Rule test: every row satisfies a SQL boolean expression (rows where it is null pass; wrap
    the expression in coalesce() to make null a failure).
#}
{% test expression_is_true(model, expression, column_name=none) %}

select *
from {{ model }}
where not ({{ expression }})

{% endtest %}
