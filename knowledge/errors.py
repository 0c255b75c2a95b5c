"""Errors of the knowledge base that more than one module raises."""

from __future__ import annotations


class EmbeddingError(Exception):
    """Vectors cannot be made now: the embeddings provider failed, or the local model is
    not installed. Search then ranks by words alone."""
