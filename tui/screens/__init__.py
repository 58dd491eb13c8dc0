"""The app's screens: home (runs), dashboard (training), generate, and small dialogs."""
