"""Performia: a live band of software musicians that plays with a guitarist."""
