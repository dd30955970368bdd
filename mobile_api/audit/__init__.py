"""The audit chain over HTTP (the chain itself is ``gridcrew.audit``)."""
