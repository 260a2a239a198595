"""lessonlib: the helper library and CLI of the 'see inside PyTorch models' course."""

__version__ = "0.1.0"
