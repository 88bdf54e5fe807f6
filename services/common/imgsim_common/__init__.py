"""Shared names, record schemas and the index mapping of the imgsim services."""
