"""Model-backed helpers: a style prompt from an image, an outline from a document."""
