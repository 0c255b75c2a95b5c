"""Luxx's PostgreSQL backend: repeated statements are prepared on the server, and
a statement with more than the protocol's 65,535 parameters still runs."""

from __future__ import annotations

import pytest
from django.db import connection

from chat.models import Message
from tests.support.factories import make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres_only]


def test_a_statement_run_again_on_a_connection_is_prepared_on_the_server() -> None:
    user = make_user()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        before = cursor.fetchone()[0]
        for _ in range(3):
            cursor.execute("SELECT username FROM accounts_user WHERE id = %s", [user.pk])
            assert cursor.fetchone() == (user.username,)
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        after = cursor.fetchone()[0]

    assert connection.features.uses_server_side_binding
    assert after == before + 1


def test_deleting_a_user_with_more_messages_than_one_statement_may_bind_works() -> None:
    # A user's messages are collected before they are deleted (a conversation's leaf is
    # set to null); 66,000 of them would be 66,000 values in one statement.
    user = make_user()
    Message.objects.bulk_create(Message(user=user, role="user", content="x") for _ in range(66_000))

    user.delete()

    assert not Message.objects.exists()
