from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class DocumentStatus(models.TextChoices):
    PROCESSING = "processing"
    READY = "ready"
    ERROR = "error"


class DocumentQuerySet(models.QuerySet["Document"]):
    def owned_by(self, user: Any) -> DocumentQuerySet:
        return self.filter(user=user)


class Document(models.Model):
    """An uploaded file, split into chunks that search and chat answers draw on."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="documents")
    agent = models.ForeignKey("agents.Agent", null=True, blank=True, on_delete=models.CASCADE, related_name="documents")
    name = models.CharField(max_length=255)
    file_type = models.CharField(max_length=16)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=16, choices=DocumentStatus.choices, default=DocumentStatus.PROCESSING)
    error_message = models.TextField(blank=True)
    chunk_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DocumentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # The same bytes once per scope (user + agent, or user alone); see document_upload.
            models.UniqueConstraint(
                fields=["user", "agent", "sha256"], condition=models.Q(agent__isnull=False), name="knowledge_document_unique_per_agent"
            ),
            models.UniqueConstraint(
                fields=["user", "sha256"], condition=models.Q(agent__isnull=True), name="knowledge_document_unique_per_user"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class DocumentUpload(models.Model):
    """The bytes of an upload until it is indexed: kept in the database, so any worker on
    any machine can index it. Deleted once the document is ``ready`` or ``error``."""

    document = models.OneToOneField(Document, primary_key=True, on_delete=models.CASCADE, related_name="upload")
    data = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"upload of {self.document_id}"


class Chunk(models.Model):
    """A passage of a document. ``search_text`` is the content segmented into words
    (jieba for Chinese), which the database's full-text index is built from;
    ``boost_text`` its words that occur more than once (all of them in a short chunk),
    indexed apart so that search finds a word's strongest chunks without ranking them all."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    content = models.TextField()
    heading = models.CharField(max_length=500, blank=True)
    page = models.PositiveIntegerField(null=True, blank=True)
    char_start = models.PositiveIntegerField(default=0)
    char_end = models.PositiveIntegerField(default=0)
    search_text = models.TextField()
    boost_text = models.TextField(blank=True, default="", help_text="Words of search_text that can score high alone.")
    embedding = models.BinaryField(
        null=True, blank=True, help_text="float32 vectors (one per part of the chunk the model reads), one after another."
    )
    # Nullable, with no default: SQLite then adds the column in place instead of rebuilding
    # the table, which would drop the full-text index's triggers.
    embedding_model = models.CharField(max_length=200, null=True, blank=True, help_text="The model that made the vectors.")

    class Meta:
        ordering = ["document_id", "index"]
        constraints = [models.UniqueConstraint(fields=["document", "index"], name="knowledge_chunk_unique_index")]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.index}"
