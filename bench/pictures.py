"""Contact sheets of the example decks and their share of empty (uniform) tiles.

Run from the repository root: ``python bench/pictures.py after`` writes
``docs/img/<deck>-after.png`` (slides drawn by the local renderer at 1920x1080, shown as
320x180 thumbnails) and prints each slide's uniform-tile share (``render/measure.py``).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from PIL import Image  # noqa: E402

from slidebatch.core.aspect import AspectRatio  # noqa: E402
from slidebatch.core.deck import parse_deck  # noqa: E402
from slidebatch.render import render_slide  # noqa: E402
from slidebatch.render.measure import uniform_share  # noqa: E402

THUMB = (320, 180)
COLUMNS = 3
GAP = 8


def sheet(deck_file: Path, label: str) -> Path:
    """Draw every slide of ``deck_file``, print its uniform share, save a contact sheet."""
    deck = parse_deck(deck_file.read_text("utf-8"), source=deck_file.name)
    thumbs = []
    for slide in deck.slides:
        png = render_slide(slide, deck.style_prompt or "", AspectRatio(16, 9), long_side=1920)
        image = Image.open(io.BytesIO(png)).convert("RGB")
        share = uniform_share(image)
        print(f"{deck_file.name} p{slide.page_num} {slide.type}: uniform {share:.1%}")
        thumbs.append(image.resize(THUMB, Image.Resampling.LANCZOS))
    rows = -(-len(thumbs) // COLUMNS)
    width = COLUMNS * THUMB[0] + (COLUMNS + 1) * GAP
    height = rows * THUMB[1] + (rows + 1) * GAP
    canvas = Image.new("RGB", (width, height), (229, 231, 235))
    for i, thumb in enumerate(thumbs):
        x = GAP + (i % COLUMNS) * (THUMB[0] + GAP)
        y = GAP + (i // COLUMNS) * (THUMB[1] + GAP)
        canvas.paste(thumb, (x, y))
    out = ROOT / "docs" / "img" / f"{deck_file.stem}-{label}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    return out


def main() -> None:
    label = sys.argv[1] if len(sys.argv) > 1 else "after"
    for deck_file in sorted((ROOT / "examples").glob("*.json")):
        print(f"wrote {sheet(deck_file, label).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
