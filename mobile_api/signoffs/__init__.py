"""The customer's sign-off: signature, ratings, immutable record, call-back, PDF sheet."""
