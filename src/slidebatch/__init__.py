"""slidebatch: a deck outline plus one style prompt in, finished slide images out."""

__version__ = "0.1.0"
