"""gridcrew."""
