"""IRASim (arXiv 2406.14540) for pwbench: the network, its released checkpoints, and (next) a small variant."""
