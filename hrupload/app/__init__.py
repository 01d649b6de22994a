"""The application: delivery, the blob pipeline, the sweep, and the interfaces (ports) it needs."""
