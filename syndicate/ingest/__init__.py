"""Readers that turn outside formats (Jekyll files, upstream feeds, API payloads) into PostInput.

Each reader raises InvalidPost naming the file or item and the reason; the caller
records the failure and goes on with the next one.
"""
