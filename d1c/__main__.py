"""``python -m d1c`` is the ``d1c`` command."""

from d1c.cli import main

main()
