"""Commands that run one trained model: sample, eval, inspect."""
