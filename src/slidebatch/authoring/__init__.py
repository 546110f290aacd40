"""Authoring: what comes before generation in the seed's studio.

Outlines from a document, style prompts from reference images, template covers, saved
projects and templates. Each has an offline method here; model-backed methods plug in later.
"""
