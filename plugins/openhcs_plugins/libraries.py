"""Built-in libraries plugins (placeholder)."""
