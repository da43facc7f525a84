"""pyserving: a TensorFlow Serving compatible model server. Importing it does not import TensorFlow."""

__version__ = "0.1.0"
__all__ = ["__version__"]
