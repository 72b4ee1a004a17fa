"""Ctrl-World (arXiv 2510.10125) in pwbench: official DROID weights and a small droid-sim variant.

Both variants share every class; see ``config.py`` for what differs and ``adapter.py`` for the
``WorldModel`` factory registered as ``ctrl-world``.
"""
