"""One training loop for every model family (:func:`pwbench.train.loop.train`).

A model family supplies a :class:`~pwbench.train.loop.TrainTask` — its module, which parameters
train, how to draw a batch, how to compute the loss — and gets AdamW with warm-up, EMA weights,
gradient clipping, atomic checkpoints with every RNG state (resume is bit-exact), a progress bar
and a loss plot. The pre-encoded training-window sampler is :mod:`pwbench.train.windows`.
"""
