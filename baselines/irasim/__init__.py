"""IRASim (arXiv 2406.14540) for pwbench: the network, its released checkpoints, and the small droid-sim variant."""
