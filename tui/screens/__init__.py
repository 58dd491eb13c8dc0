"""The app's screens: home (the runs), dashboard (a run training or trained), compare,
generate, inspect, and the dialogs (new run, steering, choices)."""
