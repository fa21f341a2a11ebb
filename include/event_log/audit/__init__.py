"""Audit: S3 against the loads and builds (findings, pure) and the readers of S3 and the warehouse (readers)."""
