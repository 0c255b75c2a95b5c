from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from agents.models import Agent
from knowledge.extract import file_type_for
from knowledge.services import document_upload
from luxx.api import LuxxError


class Command(BaseCommand):
    help = "Index PDF, TXT and Markdown files (or folders of them) into a user's knowledge base."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--user", required=True, help="Username that owns the documents.")
        parser.add_argument("--agent", type=int, help="Agent id the documents belong to.")

    def handle(self, *args: Any, paths: list[Path], user: str, agent: int | None, **options: Any) -> None:
        owner = User.objects.filter(username__iexact=user).first()
        if owner is None:
            raise CommandError(f"No user named {user}.")
        target = Agent.objects.owned_by(owner).filter(pk=agent).first() if agent else None
        if agent and target is None:
            raise CommandError(f"{user} has no agent {agent}.")
        files = [f for p in paths for f in (sorted(p.rglob("*")) if p.is_dir() else [p]) if f.is_file() and file_type_for(f.name)]
        if not files:
            raise CommandError("No PDF, TXT or Markdown files found.")
        done = failed = 0
        for position, path in enumerate(files, start=1):
            try:
                document = document_upload(user=owner, agent=target, name=path.name, data=path.read_bytes())
                done += 1
                outcome = f"{document.chunk_count} chunks"
            except LuxxError as error:
                failed += 1
                outcome = f"skipped: {error.detail}"
            bar = "#" * (30 * position // len(files))
            sys.stderr.write(f"\r[{bar:<30}] {position}/{len(files)} {path.name[:40]}: {outcome}\033[K")
            sys.stderr.flush()
        sys.stderr.write("\n")
        self.stdout.write(f"Indexed {done} file(s); {failed} skipped.")
