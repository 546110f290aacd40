"""Exports of a deck: PPTX, PDF and ZIP behind one small interface (``base.py``)."""
