"""Where versions come from: sources emit the aspired versions of each model."""
