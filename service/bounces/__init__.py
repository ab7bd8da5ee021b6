"""Bounce handling: classify returned mail, read VERP addresses, turn events into suppression.

Each module imports what it needs itself; this package imports nothing, so that importing the
classifier (``service.bounces.classify``) never drags in the database or the web app.
"""
