"""Embedding images with a CLIP model, the embedding cache and the 2-D map."""
