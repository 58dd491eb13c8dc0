"""Dashboard and generate-pane widgets; each renders from a run view or a model."""
