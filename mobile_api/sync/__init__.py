"""Offline first: the batch endpoint and the Idempotency-Key store shared by every write."""
