"""Where tokens come from: one interface, several backends."""
