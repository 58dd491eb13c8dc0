"""Commands that train or steer a run: train, ladder, steer, watch."""
