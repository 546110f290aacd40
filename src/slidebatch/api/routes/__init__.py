"""Routes by resource; each module has one ``router``."""
