"""Audit exports: one row shape (`rows.py`) shared by every sink and the download API."""
