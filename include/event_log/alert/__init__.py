"""Alert: the deadlines of each run, built at parse time; their callbacks run in the triggerer
(plugins/event_log_deadlines.py).
"""
