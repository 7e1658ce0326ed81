"""The assets, one module per layer: raw files, dbt models, Parquet exports, and the fetch job."""
