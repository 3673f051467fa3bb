"""The feature pipeline, candidate models, training and the MLflow registry."""
