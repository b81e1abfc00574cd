"""Monitoring served traffic: capture records, text descriptors, drift signals, late labels."""
