"""The screens' parts: charts, the metrics panel, samples, the model and checkpoints
tabs, the system strip, the compare table, the generate pane's text and next-character
view, sampling fields and text inputs. Each renders from a run view or a model."""
