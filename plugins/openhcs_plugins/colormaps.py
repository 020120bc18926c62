"""Built-in colormap providers (placeholder, filled by the enums work)."""
