"""The OpenAI-compatible HTTP surface: transport only."""
