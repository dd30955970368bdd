"""The dispatcher's live map at ``/map``: a static page over the board API."""
