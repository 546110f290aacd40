"""Helpers before generation: a style prompt from images, an outline from a document.

Each has one offline method (``offline_style``, ``offline_outline``) and one chat-model method
(``style``, ``outline``, through ``chat``); ``analyze_style``/``write_outline`` pick between
them for the CLI and the seed's routes alike.
"""
