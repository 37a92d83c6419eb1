"""`lmtune studio`: the few-labels loop (label, train, inspect, export) in the browser."""
