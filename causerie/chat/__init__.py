"""One chat turn end to end: history, prompt, provider, persistence. No HTTP, no SQL."""
