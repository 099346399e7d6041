"""Helpers for bench/gateway_overhead.py: processes, /proc accounting, wrk, targets."""
