"""Check: the per-hour verdicts from plain counts (hour_checks) and the check-result rows, written once per run
(results).
"""
