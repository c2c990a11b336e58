#!/usr/bin/env python
import os
import sys
from pathlib import Path


def main() -> None:
    # The Django project package lives in platform/, which must not itself be
    # importable as `platform` (that would shadow the standard library).
    sys.path.insert(1, str(Path(__file__).resolve().parent / "platform"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config_service.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
