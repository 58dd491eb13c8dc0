"""The engine, without any UI: data, models, training, runs and decoding.

Installed as `charlm_tui.core`. Nothing here imports textual, typer, rich or
`charlm_tui.tui` (tests/test_layout.py). Its packages stand in layers, each importing
only the ones before it:

    core/*.py    errors, files, values, paths, options, config, device: used by all
    text/        corpora, vocabulary, datasets and batches, showing untrusted text
    models/      the model zoo behind one contract, and checkpoint files
    decoding/    sampling, evaluation, inspection, the decoder process
    runs/        a run directory: its records, control file, listing and run view
    training/    planning and running a training, steering it, the ladder
"""
