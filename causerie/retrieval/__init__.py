"""Documents: extract their text, cut it into passages, embed, index and search them."""
