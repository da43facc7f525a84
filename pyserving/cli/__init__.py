"""Command line: ``pyserving`` and the ``tensorflow_model_server`` alias."""
