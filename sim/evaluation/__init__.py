"""Evaluation: plausibility metrics, reaction measurement, benchmark suites, batch runs, reports and comparisons."""
