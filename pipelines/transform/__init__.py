"""dbt inside the warehouse: the dbt project as Dagster assets (staging, intermediate, marts)."""
