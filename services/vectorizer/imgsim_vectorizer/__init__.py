"""The vectorizer: image paths in, vector records out, through batched CNN inference."""
