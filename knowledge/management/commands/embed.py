"""``manage.py embed [--now]``: give vectors to the chunks that lack them from the
current embeddings model (documents uploaded before embeddings were set, or after a model
change, or left by an outage that outlasted the task's retries)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from knowledge.embeddings import embedder
from knowledge.errors import EmbeddingError
from knowledge.services import document_embed, documents_to_embed
from knowledge.tasks import embed_document


class Command(BaseCommand):
    help = "Make the missing chunk vectors of the current embeddings model: one background task per document, or here with --now."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--now", action="store_true", help="Embed in this process instead of enqueueing tasks for the worker.")

    def handle(self, *args: Any, now: bool, **options: Any) -> None:
        current = embedder()
        if current is None:
            raise CommandError("No embeddings are configured: set LUXX_EMBEDDINGS=local, or LUXX_EMBEDDINGS_PROVIDER_ID.")
        documents = documents_to_embed()
        if not now:
            for document_id in documents:
                embed_document.enqueue(document_id)
            self.stdout.write(f"Enqueued {len(documents)} document(s) for {current.model}.")
            return
        chunks = 0
        for document_id in documents:
            try:
                chunks += document_embed(document_id=document_id)
            except EmbeddingError as error:
                raise CommandError(f"Document {document_id}: {error}") from None
        self.stdout.write(f"Embedded {chunks} chunk(s) of {len(documents)} document(s) with {current.model}.")
