"""``manage.py ingest PATH... [--agent ID] [--user NAME]``: index files or folders."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from agents.models import Agent
from knowledge.extract import file_type_for
from knowledge.models import DocumentStatus
from knowledge.services import document_delete, document_upload
from luxx.api import LuxxError


class Command(BaseCommand):
    help = "Index PDF, TXT and Markdown files (or folders of them, recursively) into a user's knowledge base."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--user", help="Username that owns the documents (default: the first superuser).")
        parser.add_argument("--agent", type=int, help="Id of one of the user's agents the documents belong to.")

    def handle(self, *args: Any, paths: list[Path], user: str | None, agent: int | None, **options: Any) -> None:
        owner = self._owner(user)
        target = Agent.objects.owned_by(owner).filter(pk=agent).first() if agent else None
        if agent and target is None:
            raise CommandError(f"{owner.username} has no agent {agent}.")
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise CommandError(f"No such file or folder: {', '.join(missing)}")
        files = [f for p in paths for f in (sorted(p.rglob("*")) if p.is_dir() else [p]) if f.is_file() and file_type_for(f.name)]
        if not files:
            raise CommandError("No PDF, TXT or Markdown files found.")
        done = failed = chunks = 0
        started = time.monotonic()
        for position, path in enumerate(files, start=1):
            try:
                # Indexed here and now (the worker's code, in this process): the command
                # reports each file's outcome before it ends.
                document = document_upload(user=owner, agent=target, name=path.name, data=path.read_bytes(), background=False)
                if document.status == DocumentStatus.ERROR:
                    document_delete(document=document)
                    raise LuxxError(document.error_message)
                done += 1
                chunks += document.chunk_count
                outcome = f"{document.chunk_count} chunks"
            except LuxxError as error:
                failed += 1
                outcome = f"skipped: {error.detail}"
                self.stderr.write(f"\n{path}: {error.detail}")
            bar = "#" * (30 * position // len(files))
            self.stderr.write(f"\r[{bar:<30}] {position}/{len(files)} {path.name[:40]}: {outcome}\033[K", ending="")
            self.stderr.flush()
        self.stderr.write("")
        seconds = time.monotonic() - started
        self.stdout.write(f"Indexed {done} file(s); {failed} skipped.")
        self.stderr.write(f"{chunks} chunks in {seconds:.1f} s.")

    def _owner(self, username: str | None) -> User:
        if username:
            owner = User.objects.filter(username__iexact=username).first()
            if owner is None:
                raise CommandError(f"No user named {username}.")
            return owner
        owner = User.objects.filter(is_superuser=True).order_by("pk").first()
        if owner is None:
            raise CommandError("No superuser exists; name the owner with --user.")
        return owner
