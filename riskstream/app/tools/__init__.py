"""User tools behind the CLI: read predictions, watch alerts, replay topics, backtest."""
