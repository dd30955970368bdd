"""Notices to customers: the outbox (the one writer of ``notifications``), the lifecycle
messages every service queues, and the delivery rules the worker and its receivers share."""
