"""Similarity kernels: thin, documented wrappers over the Rust core."""
