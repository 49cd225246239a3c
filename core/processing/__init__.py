"""Metadata and processing rules: what a record becomes before it leaves. Pure: no I/O here."""
