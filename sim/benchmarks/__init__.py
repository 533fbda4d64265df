"""Benchmarks that print numbers: those behind `terrain-mdm bench-*` and scripts run as
`python -m sim.benchmarks.NAME`."""
