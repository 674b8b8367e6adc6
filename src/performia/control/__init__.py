"""Changing the band while it plays: settings, changes, the control API, sessions."""
