"""Background tasks of the knowledge base."""

from __future__ import annotations

from django.utils import translation
from django.utils.translation import gettext as _

from knowledge import services
from worker.durable import GiveUp, durable_task


def _index_given_up(give_up: GiveUp, document_id: int, language: str = "en") -> None:
    with translation.override(language):
        reason = _("Indexing failed on the server after %(attempts)s attempts (%(cause)s).") % {
            "attempts": give_up.attempts,
            "cause": give_up.cause,
        }
    services.document_fail(document_id=document_id, reason=reason)


@durable_task(on_give_up=_index_given_up)
def index_document(document_id: int, language: str = "en") -> None:
    """Index an uploaded document; its reasons are written in the uploader's ``language``."""
    with translation.override(language):
        services.document_index(document_id=document_id)


@durable_task()
def embed_document(document_id: int) -> None:
    """Make the vectors of a ready document's chunks (see ``services.document_embed``)."""
    services.document_embed(document_id=document_id)
