"""Workload scenarios: the runner, time series, plots and reports."""
