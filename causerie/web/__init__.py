"""The browser UI: server-rendered pages, markdown rendered and sanitized on the server."""
