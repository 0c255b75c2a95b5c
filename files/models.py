"""Files attached to chat messages: images the model sees, documents whose text it reads."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from luxx.ids import new_id


def new_file_id() -> str:
    return new_id("file_")


class FileKind(models.TextChoices):
    IMAGE = "image"
    DOCUMENT = "document"


class FileQuerySet(models.QuerySet["File"]):
    def owned_by(self, user: Any) -> FileQuerySet:
        return self.filter(user=user)


class File(models.Model):
    """An uploaded attachment, kept in the database (like knowledge uploads) so that every
    web process on every machine can read it, and served only to its owner.

    ``data`` is what the model is given: an image decoded, stripped of its metadata and
    scaled down (see files/images.py), or a document's bytes as uploaded. A document's
    text is extracted once, at upload, into ``text`` and ``chunks`` (passages with their
    heading, page and words for ranking). A file belongs to the conversation of the first
    message it is attached to, and is deleted with it."""

    id = models.CharField(primary_key=True, max_length=24, default=new_file_id, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="files")
    conversation = models.ForeignKey("chat.Conversation", null=True, blank=True, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=255)
    kind = models.CharField(max_length=16, choices=FileKind.choices)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField(default=0)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64)
    data = models.BinaryField()
    text = models.TextField(blank=True)
    chunks = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = FileQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return self.name


class ModelCapability(models.Model):
    """An administrator's word on whether a model accepts images, overriding the defaults
    by model name (files/vision.py). ``model`` is a name or a pattern with ``*``; without a
    provider it holds for every provider."""

    provider = models.ForeignKey("agents.Provider", null=True, blank=True, on_delete=models.CASCADE, related_name="capabilities")
    model = models.CharField(max_length=200, help_text="A model name, or a pattern such as gpt-4o* (* matches anything).")
    vision = models.BooleanField(default=True, help_text="The model accepts images.")

    class Meta:
        ordering = ["provider_id", "model"]
        verbose_name_plural = "model capabilities"
        constraints = [models.UniqueConstraint(fields=["provider", "model"], name="files_capability_unique_per_provider")]

    def __str__(self) -> str:
        return f"{self.model}: {'vision' if self.vision else 'text only'}"
