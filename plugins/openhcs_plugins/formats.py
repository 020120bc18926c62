"""Built-in formats plugins (placeholder)."""
