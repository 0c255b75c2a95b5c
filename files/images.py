"""Images checked and made safe with Pillow: the format from the bytes, decoded once (the
first frame of a GIF), turned upright, stripped of metadata and scaled down to what vision
models use, refusing decompression bombs before any pixel is decoded."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

# Pillow's names of the formats accepted, and what each is stored as. A GIF keeps only its
# first frame, as a PNG (the APIs take GIFs, but animation means nothing to them).
FORMATS = {"PNG": ("PNG", "image/png"), "JPEG": ("JPEG", "image/jpeg"), "WEBP": ("WEBP", "image/webp"), "GIF": ("PNG", "image/png")}
NAMES = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WebP", "GIF": "GIF"}


class ImageRefused(Exception):
    """The bytes are not an image this server takes; the message says why, in plain words."""

    def __init__(self, message: str, *, unsupported: bool = False):
        super().__init__(message)
        self.unsupported = unsupported


@dataclass(frozen=True)
class ProcessedImage:
    data: bytes
    content_type: str
    width: int
    height: int
    source_format: str


def sniff(data: bytes) -> str | None:
    """Pillow's name of the image format of these bytes (any format Pillow knows, so that a
    BMP can be named when refused), or None when they are not an image."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                return str(image.format)
    except Image.DecompressionBombError:
        # Pillow refuses to even open it: name it by its signature, process() refuses it.
        return _by_signature(data)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None


def _by_signature(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def process(data: bytes) -> ProcessedImage:
    """Decode, check and re-encode an image. Raises :class:`ImageRefused`."""
    max_pixels = int(settings.LUXX_IMAGE_MAX_MEGAPIXELS) * 1_000_000
    try:
        with warnings.catch_warnings():
            # The decoded size is checked below, against Luxx's own limit, before decoding.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(FORMATS))
    except Image.DecompressionBombError:
        raise ImageRefused(_("The image is refused: decoded, it would be far too large (a decompression bomb).")) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise ImageRefused(_("The file is not a PNG, JPEG, WebP or GIF image."), unsupported=True) from None
    with image:
        source = str(image.format)
        width, height = image.size
        if width * height > max_pixels:
            raise ImageRefused(
                _("The image is refused: decoded it would be %(width)s×%(height)s pixels, more than %(limit)s megapixels.")
                % {"width": width, "height": height, "limit": settings.LUXX_IMAGE_MAX_MEGAPIXELS}
            )
        if width < 1 or height < 1:
            raise ImageRefused(_("The image has no pixels."))
        try:
            image.seek(0)
            image.load()
            upright = ImageOps.exif_transpose(image) or image
        except (OSError, ValueError, SyntaxError, EOFError):
            raise ImageRefused(_("The image is corrupt or truncated.")) from None
        target_format, content_type = FORMATS[source]
        upright = _with_usable_mode(upright, target_format)
        limit = int(settings.LUXX_IMAGE_MAX_SIDE)
        if max(upright.size) > limit:
            upright.thumbnail((limit, limit), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        # No exif=, icc_profile= or pnginfo= is passed on: the re-encoded file carries no metadata.
        options: dict[str, dict[str, Any]] = {"JPEG": {"quality": 90, "optimize": True}, "WEBP": {"quality": 90}, "PNG": {"optimize": True}}
        upright.save(out, format=target_format, **options[target_format])
        return ProcessedImage(out.getvalue(), content_type, upright.size[0], upright.size[1], source)


def _with_usable_mode(image: Image.Image, target_format: str) -> Image.Image:
    """A copy in a mode the target format writes (palettes and odd modes made RGB/RGBA)."""
    if target_format == "JPEG":
        return image.convert("RGB") if image.mode != "RGB" else image.copy()
    if image.mode in ("RGB", "RGBA", "L", "LA"):
        return image.copy()
    has_alpha = (image.mode in ("P", "PA") and "transparency" in image.info) or image.mode.endswith("A")
    return image.convert("RGBA" if has_alpha else "RGB")
