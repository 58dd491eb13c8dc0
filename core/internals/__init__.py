"""The model's internals during training: per layer, activation statistics and
saturation, gradient norms and the update-to-data ratio of each weight matrix, measured
on the steps the trainer records them (--internals-interval).

Layer: above models (it knows each model's nonlinearities), below runs (whose internals
record holds what stats.py describes); the trainer imports it. stats.py imports no torch.
"""
