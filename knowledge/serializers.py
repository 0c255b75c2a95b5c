from __future__ import annotations

from rest_framework import serializers

from knowledge.models import Chunk, Document
from luxx.fields import StrictCharField, StrictIntegerField, StrictObjectSerializer
from luxx.text import estimate_tokens

MAX_TOP_K = 100


class DocumentSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(read_only=True)
    agent_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Document
        fields = [
            "id",
            "user_id",
            "agent_id",
            "name",
            "file_type",
            "size",
            "sha256",
            "status",
            "error_message",
            "chunk_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ChunkSerializer(serializers.ModelSerializer):
    token_estimate = serializers.SerializerMethodField(help_text="A cheap estimate of the content's length in tokens.")

    class Meta:
        model = Chunk
        fields = ["index", "content", "heading", "page", "char_start", "char_end", "token_estimate"]
        read_only_fields = fields

    def get_token_estimate(self, chunk: Chunk) -> int:
        return estimate_tokens(chunk.content)


class UploadInput(serializers.Serializer):
    file = serializers.FileField()
    # A form's empty agent_id is no agent; a form has no null, so the schema has none.
    agent_id = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    openapi_extra = {"properties": {"agent_id": {"nullable": False}}}


class V1UploadInput(UploadInput):
    agent_id = serializers.IntegerField(min_value=1)


class SearchInput(StrictObjectSerializer):
    query = StrictCharField(max_length=2000)
    agent_id = StrictIntegerField(required=False, allow_null=True, min_value=1)
    top_k = StrictIntegerField(
        required=False, default=5, min_value=1, max_value=MAX_TOP_K, help_text="How many passages, best first: 1 to 100 (default 5)."
    )


class V1SearchInput(SearchInput):
    agent_id = StrictIntegerField(min_value=1)


class SearchResultSerializer(serializers.Serializer):
    document_id = serializers.IntegerField()
    document_name = serializers.CharField()
    chunk_index = serializers.IntegerField()
    content = serializers.CharField()
    score = serializers.FloatField()
    page = serializers.IntegerField(allow_null=True)
    heading = serializers.CharField()


class SearchOutput(serializers.Serializer):
    results = SearchResultSerializer(many=True)
    total = serializers.IntegerField()
