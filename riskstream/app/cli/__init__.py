"""The ``riskstream`` command line."""
