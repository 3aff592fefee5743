"""Text rendering with the font Pillow ships (Aileron via FreeType), so pixels never depend on system fonts."""
from __future__ import annotations

from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont


@lru_cache(maxsize=32)
def font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's bundled scalable font at `size` px."""
    return ImageFont.load_default(size=size)


def draw_text(img: Image.Image, text: str, cx: float, cy: float, size: int, fill: tuple[int, int, int]) -> tuple[int, int, int, int]:
    """Draw `text` centred at (cx, cy); return its bounding box."""
    d = ImageDraw.Draw(img)
    f = font(size)
    d.text((cx, cy), text, fill=fill, font=f, anchor="mm")
    return d.textbbox((cx, cy), text, font=f, anchor="mm")
