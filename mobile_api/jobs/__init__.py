"""A crew's jobs: the list in plan order, one job, and the status state machine."""
