"""The offline renderer: a real slide image from a slide's text, no network, no key.

``layout`` decides where everything goes (with ``textfit`` fitting text into boxes, ``fonts``
finding faces, ``palette`` reading colours from the style prompt); ``paint`` draws it. Used by
the local provider, by the placeholder for a failed slide, and by the exporters.
"""

from slidebatch.render.paint import RenderedSlide, draw_slide, render_slide

__all__ = ["RenderedSlide", "draw_slide", "render_slide"]
