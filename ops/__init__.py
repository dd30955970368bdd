"""The composition root: the ``gridcrew`` command, ``gridcrew up``'s supervisor, the
doctor and the service-quality report. The only package that imports every service."""
