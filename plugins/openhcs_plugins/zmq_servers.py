"""Built-in zmq_servers plugins (placeholder)."""
