"""Single source of the library version (kept import-free: the cache header reads it)."""

__version__ = "0.1.0"
