"""Sensors: landing files start runs (``landing``); failed runs and checks are logged."""
