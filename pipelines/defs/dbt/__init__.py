"""dbt inside the warehouse: the project (parsed on first use) and the two ways to run it."""
