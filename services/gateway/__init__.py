"""The API gateway: the single public entry (port 8000) in front of every service."""
