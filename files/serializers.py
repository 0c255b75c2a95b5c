from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from files.models import File


class FileSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=["image", "document"], read_only=True)
    conversation_id = serializers.CharField(
        read_only=True, allow_null=True, help_text="The conversation it is attached in; null until sent."
    )
    width = serializers.IntegerField(read_only=True, allow_null=True, help_text="Images: pixels, as stored (after scaling down).")
    height = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = File
        fields = ["id", "name", "content_type", "size", "kind", "width", "height", "conversation_id", "created_at"]
        read_only_fields = fields


class FileUploadInput(serializers.Serializer):
    file = serializers.FileField(
        help_text="A PNG, JPEG, WebP or GIF image, or a PDF, TXT or Markdown document; the type is told from the bytes."
    )


class FileTextOutput(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    text = serializers.CharField(help_text="The document's extracted text.")


ATTACHMENT_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["id", "name", "kind", "content_type", "size", "width", "height"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "kind": {"type": "string", "enum": ["image", "document"]},
            "content_type": {"type": "string"},
            "size": {"type": "integer"},
            "width": {"type": "integer", "nullable": True},
            "height": {"type": "integer", "nullable": True},
        },
    },
}


@extend_schema_field(ATTACHMENT_SCHEMA)
class AttachmentListField(serializers.JSONField):
    """A stored message's attachments, as they were when it was sent (a file deleted since
    is still listed; GET /api/files/{id} answers 404 for it)."""
