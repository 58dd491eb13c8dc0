"""charlm core: data, vocabulary, models, training, evaluation, sampling, checkpoints.

Importable and testable without any UI: nothing here imports textual, typer or tui.
"""
