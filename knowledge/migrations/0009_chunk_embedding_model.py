from django.conf import settings
from django.db import migrations, models


def name_existing_vectors(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Vectors made before this migration came from the embeddings provider's model."""
    Chunk = apps.get_model("knowledge", "Chunk")
    Chunk.objects.filter(embedding__isnull=False).update(embedding_model=settings.LUXX_EMBEDDINGS_MODEL)


class Migration(migrations.Migration):
    dependencies = [
        ("knowledge", "0008_bm25_statistics"),
    ]

    operations = [
        migrations.AddField(
            model_name="chunk",
            name="embedding_model",
            field=models.CharField(blank=True, help_text="The model that made the vectors.", max_length=200, null=True),
        ),
        migrations.AlterField(
            model_name="chunk",
            name="embedding",
            field=models.BinaryField(
                blank=True, help_text="float32 vectors (one per part of the chunk the model reads), one after another.", null=True
            ),
        ),
        migrations.RunPython(name_existing_vectors, migrations.RunPython.noop),
    ]
