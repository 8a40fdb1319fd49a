"""Fault-injection suite: every fault and bad input listed in docs/reliability.md has a test here."""
