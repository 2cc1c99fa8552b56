"""The one-stop services; each folder has the same rooms (DESIGN.md)."""
