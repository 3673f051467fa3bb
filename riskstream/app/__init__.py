"""What a user runs: the CLI, the web console, the tools, the local stack and the demo."""
