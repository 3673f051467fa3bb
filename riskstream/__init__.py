"""riskstream: machine-learning models on live Kafka event streams."""

__version__ = "0.1.0"
