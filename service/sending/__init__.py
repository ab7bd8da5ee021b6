"""Sending: message assembly now; sends, the delivery ledger and SMTP transport build on it."""
