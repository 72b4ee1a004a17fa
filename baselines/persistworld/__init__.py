"""PersistWorld (arXiv 2603.25685): Ctrl-World with RL-post-trained adapters (see :mod:`pwbench.rl`)."""
