"""The search API: browse paintings and find similar ones, streamed as results arrive."""
