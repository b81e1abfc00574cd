"""AWS access: sessions per account (assumed roles, refreshed), clients and S3 helpers."""
