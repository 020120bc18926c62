"""pytest plugin for plugin authors (fixtures land here)."""
