"""`manage.py check --deploy` with the README's production example prints no warning,
and without those settings it does (so the example is what makes it clean)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from luxx import bootstrap

# The check runs with its own environment alone, whatever the pass's database: the second pass would repeat the first.
pytestmark = pytest.mark.sqlite_only

ROOT = Path(__file__).resolve().parents[2]
CLEAN = "System check identified no issues (0 silenced).\n"


def production_example() -> dict[str, str]:
    """The KEY=VALUE lines of the README's fenced block after ``<!-- production-example -->``."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- production-example -->\n```sh\n(.*?)\n```", readme, re.DOTALL)
    assert block is not None, "the README has no production example"
    return dict(line.split("=", 1) for line in block.group(1).splitlines())


def data_dir() -> Path:
    """A data directory as a production install has it: the sandbox's uid can reach the
    workspaces below it (else the check rightly warns that the sandbox cannot run)."""
    path = Path(tempfile.mkdtemp(prefix="luxx-deploy-"))
    path.chmod(0o711)
    return path


def check_deploy(environment: dict[str, str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run the check with ``environment`` alone (plus PATH and the data directory, whose
    secret key is made as `manage.py migrate` makes it)."""
    bootstrap.create_secret_key(data_dir)
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "LUXX_DATA_DIR": str(data_dir), **environment}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )


def test_check_deploy_with_the_readme_production_example_prints_no_warning() -> None:
    example = production_example()

    done = check_deploy(example, data_dir())

    assert set(example) >= {
        "SECURE_HSTS_SECONDS",
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_PROXY_SSL_HEADER",
        "CSRF_TRUSTED_ORIGINS",
    }
    assert (done.returncode, done.stdout + done.stderr) == (0, CLEAN)  # the whole output, whichever stream


def test_without_the_https_settings_check_deploy_warns() -> None:
    example = production_example()
    bare = {key: value for key, value in example.items() if not key.startswith(("SECURE_", "SESSION_", "CSRF_COOKIE"))}

    done = check_deploy(bare, data_dir())

    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in done.stderr
