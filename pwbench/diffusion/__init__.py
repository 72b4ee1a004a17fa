"""What every diffusion world model in pwbench shares, independent of its network.

* :mod:`.edm` — EDM preconditioning (any sigma_data, SVD's v-prediction sign), the x0 estimate
  and EDM's loss weight;
* :mod:`.schedule` — training sigma distributions and sampling sigma schedules (Karras);
* :mod:`.sampler` — the Euler sampler, returning the whole trajectory (RL branches from it);
* :mod:`.residual` — diffusion over the change from the current frame;
* :mod:`.codec` — the latent codec interface (SVD VAE, patch-PCA) and multi-view stacking;
* :mod:`.poses` — continuous pose features for the small recipes (no ±π jump);
* :mod:`.pose_map` — a spatial path for those features onto a network's first feature map.

It lives in the harness, not in ``baselines/``, because ``pwbench.rl`` needs it and the harness
never imports a model family. A model family supplies only its network and conditioning.
"""
