"""Residents' photos made safe: checked by their content, decoded within limits, re-written without metadata.

::

    photo = process_photo(upload_bytes, settings.photos, filename="pothole.jpg")
    Photo(content_type=photo.content_type, width=photo.width, height=photo.height, data=photo.data, ...)

What is checked follows ASVS v5.0.0 (``data/governance.yml``, section ``photos``):

- 5.2.1: the upload's size, before anything is decoded;
- 5.2.2: the type by the content (never the file name or the declared type), from an allowlist, and the image
  re-written so that nothing of the upload but its pixels survives (a polyglot's script, a comment);
- 5.2.6: the pixel count from the header, before any pixel is decoded (a "pixel flood");
- 14.2.8: no metadata in what is kept (EXIF with GPS position and camera, ICC, XMP, comments, text chunks).

Every refusal is one :class:`PhotoError` (an :class:`~exquisite.errors.InputError`) for the field ``photo``
saying what is wrong in words a resident understands and what to do, in English (Open311's descriptions, the
command line), and by a machine-readable :attr:`PhotoError.reason` with its numbers in
:attr:`PhotoError.values`, from which a page writes its own message in the reader's language.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from exquisite.errors import InputError
from exquisite.governance.settings import PhotoRules

#: The field every refusal names.
FIELD = "photo"
#: The type of every photo kept.
CONTENT_TYPE = "image/jpeg"
#: What a flattened transparent area becomes (the page's background).
BACKGROUND = (255, 255, 255)
#: Why a photo can be refused (:attr:`PhotoError.reason`), each with the keys of its ``values``.
REASONS: dict[str, tuple[str, ...]] = {
    "empty": (),
    "too_large": ("size", "limit"),
    "too_many_pixels": ("width", "height", "pixels", "limit"),
    "not_accepted_type": ("format", "accepted"),
    "not_an_image": ("accepted",),
    "damaged": ("detail",),
}


class PhotoError(InputError):
    """A refused photo: the English message, why (``reason``) and the numbers of it (``values``).

    Parameters
    ----------
    reason
        One of :data:`REASONS`: ``empty``; ``too_large`` (``size`` and ``limit`` in bytes);
        ``too_many_pixels`` (``width``, ``height`` and ``pixels`` of the image — None when Pillow's own
        pixel-flood guard refused it before its size was read — and ``limit`` in pixels);
        ``not_accepted_type`` (``format``, the image's, and ``accepted``, the formats taken);
        ``not_an_image`` (``accepted``); ``damaged`` (``detail``: the decoder's own words, English, or
        None when the image has no pixels at all).
    problem, hint
        The English sentence and what to do, as :class:`~exquisite.errors.InputError` takes them.
    **values
        The reason's numbers (exactly the keys :data:`REASONS` names for it).
    """

    def __init__(self, reason: str, problem: str, hint: str, **values: Any) -> None:
        if reason not in REASONS or set(values) != set(REASONS[reason]):
            raise ValueError(f"photo refusal {reason!r} with values {sorted(values)}; see REASONS")
        self.reason = reason
        self.values: dict[str, Any] = values
        super().__init__(FIELD, problem, hint)


@dataclass(frozen=True)
class ProcessedPhoto:
    """A photo re-written as a JPEG without metadata, ready to be stored.

    Attributes
    ----------
    content_type
        Always ``image/jpeg``.
    width, height
        The stored image's size in pixels (after orientation and shrinking).
    data
        The JPEG file.
    """

    content_type: str
    width: int
    height: int
    data: bytes


def process_photo(data: bytes, rules: PhotoRules, filename: str = "photo") -> ProcessedPhoto:
    """Check an uploaded photo and re-write it as a metadata-free JPEG.

    Parameters
    ----------
    data
        The uploaded file's bytes.
    rules
        The limits (``settings.photos``): size, pixel count, longest side kept, JPEG quality, formats.
    filename
        The name the resident's file had, used only in messages (never to decide the type).

    Returns
    -------
    ProcessedPhoto
        The upright first frame, in RGB (transparency on white), at most ``max_side_px`` on its longest side,
        saved at ``jpeg_quality`` with no EXIF, GPS, ICC, XMP or comment.

    Raises
    ------
    PhotoError
        For the field ``photo``: empty, too large in bytes or pixels, not an image, a type not accepted, or
        a damaged (truncated) file; ``reason`` and ``values`` say which, with the numbers.
    """
    name = _shown_name(filename)
    accepted = ", ".join(rules.formats)
    if not data:
        raise PhotoError("empty", f"{name} is empty (0 bytes)", "Choose the photo again and re-send it.")
    if len(data) > rules.max_bytes:
        size, limit = _sizes(len(data), rules.max_bytes)
        raise PhotoError(
            "too_large",
            f"{name} is {size}; the limit is {limit}",
            "Send a smaller photo, or take it at a lower size.",
            size=len(data),
            limit=rules.max_bytes,
        )
    with warnings.catch_warnings():
        # Pillow's own pixel-flood guard warns below twice its limit: the same refusal as ours.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = _open(data, rules, name, accepted)
            with image:
                _check_pixels(image.width, image.height, rules, name)
                return _rewrite(image, rules, name)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise PhotoError(
                "too_many_pixels",
                f"{name} has more pixels than the limit of {_megapixels(rules.max_pixels)}",
                "Send a smaller photo.",
                width=None,
                height=None,
                pixels=None,
                limit=rules.max_pixels,
            ) from None


def _open(data: bytes, rules: PhotoRules, name: str, accepted: str) -> Image.Image:
    """The image identified by its content among the accepted formats (header only, nothing decoded)."""
    try:
        return Image.open(io.BytesIO(data), formats=list(rules.formats))
    except UnidentifiedImageError:
        pass
    other = _other_image_format(data)
    formats = tuple(rules.formats)
    if other is not None:
        raise PhotoError(
            "not_accepted_type",
            f"{name} is a {other} image, which is not accepted",
            f"Send a photo as {accepted}.",
            format=other,
            accepted=formats,
        )
    raise PhotoError(
        "not_an_image",
        f"{name} is not an image this service can read",
        f"Send a photo as {accepted}.",
        accepted=formats,
    )


def _other_image_format(data: bytes) -> str | None:
    """The format of an image Pillow can read but the rules do not accept (to say so), else None."""
    try:
        with Image.open(io.BytesIO(data)) as other:
            return str(other.format)
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ):
        return None


def _check_pixels(width: int, height: int, rules: PhotoRules, name: str) -> None:
    if width <= 0 or height <= 0:
        raise PhotoError("damaged", f"{name} has no pixels", "Send the photo again.", detail=None)
    if width * height > rules.max_pixels:
        raise PhotoError(
            "too_many_pixels",
            f"{name} is {width} × {height} pixels ({_megapixels(width * height)}); "
            f"the limit is {_megapixels(rules.max_pixels)}",
            "Send a smaller photo.",
            width=width,
            height=height,
            pixels=width * height,
            limit=rules.max_pixels,
        )


def _rewrite(image: Image.Image, rules: PhotoRules, name: str) -> ProcessedPhoto:
    """Decode the first frame, turn it upright, flatten it to RGB, shrink it, and save it as a bare JPEG."""
    try:
        image.seek(0)
        image.load()
        upright = ImageOps.exif_transpose(image)
        rgb = _flatten(upright)
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise PhotoError(
            "damaged",
            f"{name} is damaged or incomplete ({_reason(error)})",
            "Send the photo again; if it still fails, save it again on your device first.",
            detail=_reason(error),
        ) from None
    rgb.thumbnail((rules.max_side_px, rules.max_side_px), Image.Resampling.LANCZOS)
    # A new image holds the pixels alone: no info (comments, ICC, EXIF, XMP, text chunks) is carried over.
    clean = Image.frombytes("RGB", rgb.size, rgb.tobytes())
    out = io.BytesIO()
    clean.save(out, format="JPEG", quality=rules.jpeg_quality, optimize=True)
    return ProcessedPhoto(
        content_type=CONTENT_TYPE, width=clean.width, height=clean.height, data=out.getvalue()
    )


def _flatten(image: Image.Image) -> Image.Image:
    """The image in RGB, its transparent parts on :data:`BACKGROUND`."""
    transparent = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode in ("P", "L", "RGB") and "transparency" in image.info
    )
    if not transparent:
        return image.convert("RGB")
    rgba = image.convert("RGBA")
    flat = Image.new("RGB", rgba.size, BACKGROUND)
    flat.paste(rgba, mask=rgba.getchannel("A"))
    return flat


def _reason(error: BaseException) -> str:
    text = str(error).strip().rstrip(".")
    return text if text else type(error).__name__


def _shown_name(filename: str) -> str:
    """The file's name as shown in a message: its last part, printable, at most 80 characters."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    printable = "".join(ch for ch in base if ch.isprintable()).strip()
    if not printable:
        return "The photo"
    return f"'{printable[:77]}...'" if len(printable) > 80 else f"'{printable}'"


def _megabytes(count: int) -> str:
    return f"{count / 1_000_000:.1f}".removesuffix(".0") + " MB"


def in_bytes(size: int, limit: int) -> bool:
    """Whether a size and its limit are told in bytes: where MB with one decimal would show them equal."""
    return _megabytes(size) == _megabytes(limit)


def _sizes(size: int, limit: int) -> tuple[str, str]:
    """Size and limit in MB, or in bytes where one decimal would show them equal."""
    if in_bytes(size, limit):
        return f"{size:,} bytes", f"{limit:,} bytes"
    return _megabytes(size), _megabytes(limit)


def _megapixels(count: int) -> str:
    return f"{count / 1_000_000:.1f}".removesuffix(".0") + " megapixels"
