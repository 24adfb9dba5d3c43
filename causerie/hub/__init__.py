"""Models from the Hugging Face Hub: the curated catalog, pulling a GGUF (resumable, verified),
and the GGUF files already in the models directory."""
