"""The Dagster definitions of krx-short: the code location (``definitions.py``) and everything it
holds. Importing any of these modules builds nothing; ``definitions.load_defs`` builds it all."""
