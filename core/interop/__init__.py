"""Runs in and out of other tools: TensorBoard event files (tensorboard), and interchange:
a nanoGPT checkpoint made a run, a run's weights as safetensors and its records as CSV.

Above core/runs/ (whose files it reads and writes) and core/models/ (whose formats it
converts); nothing below imports it.
"""
