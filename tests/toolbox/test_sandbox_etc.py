"""The sandbox's generated /etc: made once per workspace root, never left in the system
temp folder by the processes that probe or use the sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from luxx.bootstrap import BASE_DIR
from tests.toolbox.conftest import call, make_ctx, requires_sandbox
from toolbox import sandbox

pytestmark = requires_sandbox


def test_management_commands_leave_nothing_in_the_temp_folder_and_share_one_etc(tmp_path: Path) -> None:
    temp, data = tmp_path / "tmp", tmp_path / "data"
    temp.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LUXX_") and key not in {"DATABASE_URL", "REDIS_URL"}}
    # TMPDIR is where tempfile puts everything, so this folder is the system temp folder
    # of the two processes; the sandbox probe of `check` is what used to fill it.
    env.update(TMPDIR=str(temp), LUXX_DATA_DIR=str(data), DJANGO_SETTINGS_MODULE="luxx.settings", SECRET_KEY="k" * 50)

    runs = [
        subprocess.run([sys.executable, "manage.py", "check"], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120)
        for _ in range(2)
    ]

    assert [run.returncode for run in runs] == [0, 0], runs[-1].stderr
    assert sorted(p.name for p in temp.iterdir()) == []
    etc = sorted((data / "workspaces").glob(".sandbox-etc*"))
    assert len(etc) == 1 and etc[0].name.startswith(".sandbox-etc-")
    assert sorted(p.name for p in etc[0].iterdir() if not p.is_dir()) == sorted(
        ["group", "hostname", "hosts", "nsswitch.conf", "passwd", *(n for n in sandbox.COPIED_ETC_FILES if (Path("/etc") / n).is_file())]
    )
    assert oct(etc[0].stat().st_mode & 0o777) == "0o755"


def test_the_etc_of_another_content_is_a_directory_of_its_own(workspace_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = sandbox.sandbox_etc_dir()
    again = sandbox.sandbox_etc_dir()
    changed = sandbox._EtcContents(files={"passwd": b"nobody:x:65534:65534::/workspace:/usr/sbin/nologin\n"}, links={})
    monkeypatch.setattr(sandbox, "_etc_contents", lambda: changed)
    other = sandbox.sandbox_etc_dir()

    assert first == again and first.parent == workspace_root
    assert other != first and other.parent == workspace_root
    assert (other / "passwd").read_bytes() == changed.files["passwd"]
    assert sorted(p.name for p in workspace_root.iterdir() if p.name.startswith(".sandbox-etc")) == sorted([first.name, other.name])


@pytest.mark.django_db(transaction=True)
async def test_code_runs_with_the_kept_etc(workspace_root: Path) -> None:
    ctx = await make_ctx()

    outcome, result = await call("python_execute", {"code": "import os\nprint(sorted(os.listdir('/etc')))"}, ctx)

    assert outcome.success, result
    assert result["exit_code"] == 0 and "'passwd'" in result["stdout"] and "shadow" not in result["stdout"]
    assert [n for n in os.listdir(workspace_root) if n.startswith(".sandbox-etc")] == [sandbox.sandbox_etc_dir().name]
