"""WPE, WorldGym's action-conditioned video DiT (arXiv 2506.00613): network, sampler, checkpoints."""
