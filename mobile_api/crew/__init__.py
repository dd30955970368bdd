"""The crew's handheld app: an offline-first web app at ``/crew/`` and its live plan stream.

``router.py`` serves the page, its service worker, manifest and static files (idb is
vendored into ``static/vendor`` by scripts/setup.d/crew.sh); ``stream.py`` pushes a
crew its own job list whenever the dispatcher or a status change touches it. The app
itself holds no data on the server: it uses the crew endpoints of ``/v1`` like any
terminal.
"""
