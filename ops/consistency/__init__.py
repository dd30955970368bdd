"""``gridcrew audit consistency``: what the users see checked against what the database knows."""
