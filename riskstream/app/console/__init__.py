"""The operator's console: ``riskstream ui``, a web application over the same topics, Redis
windows and registry the workers use, and its JSON API under ``/api/v1``."""
