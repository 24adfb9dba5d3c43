"""The in-process inference engine over llama.cpp (llama-cpp-python)."""
