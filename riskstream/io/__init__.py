"""Kafka, Redis and the workers' health and metrics endpoints: the I/O at the edges."""
