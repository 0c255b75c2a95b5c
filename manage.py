#!/usr/bin/env python
"""Django's command-line utility for Luxx."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "luxx.settings")
    if sys.argv[1:2] == ["migrate"] and not os.environ.get("SECRET_KEY"):
        # Set-up starts here: give the install its own random secret key (kept in the
        # data directory) before the settings, which refuse to run without one, load.
        from luxx.bootstrap import create_secret_key, data_dir

        create_secret_key(data_dir())
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
