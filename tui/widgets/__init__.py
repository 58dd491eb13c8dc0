"""Dashboard and generate-pane widgets; each renders from a RunState or a model."""
