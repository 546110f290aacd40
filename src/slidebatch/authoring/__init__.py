"""Authoring: what comes before generation in the seed's studio.

Template covers, saved projects and templates, the seed's stream messages, the settings page.
Outlines and style prompts themselves are ``assist/``'s (the model, or the offline method).
"""
