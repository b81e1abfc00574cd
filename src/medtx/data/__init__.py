"""The data stage: ingest (path or s3://), label policy, great-expectations checks with
quarantine, the group-aware split, the synthetic demo set and redacted previews."""
