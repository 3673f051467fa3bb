"""Kafka plumbing shared by every worker: admin (topic creation) and client factories."""
