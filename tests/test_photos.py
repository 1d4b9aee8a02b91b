"""Residents' photos: refused by content and limits, re-written upright as JPEG without any metadata."""

from __future__ import annotations

import io
import zlib

import pytest
from PIL import Image, PngImagePlugin

from exquisite.errors import InputError
from exquisite.governance.photos import REASONS, PhotoError, ProcessedPhoto, process_photo
from exquisite.governance.settings import load_settings


@pytest.fixture(scope="module")
def rules():
    """The default photo rules of data/governance.yml."""
    return load_settings(None).photos


def _jpeg_with_gps(width: int = 400, height: int = 300) -> bytes:
    """A JPEG whose EXIF holds a camera make, a GPS position, orientation 6 and a comment."""
    image = Image.new("RGB", (width, height), (200, 30, 30))
    # A white band along the top edge tells where "up" ends after rotation.
    image.paste((255, 255, 255), (0, 0, width, 20))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0110] = "Model X-9"  # Model
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to view
    gps = {1: "N", 2: (60.0, 10.0, 30.5), 3: "E", 4: (24.0, 56.0, 12.25)}
    exif[0x8825] = gps
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif, comment=b"taken at home, 12 Secret Road")
    return out.getvalue()


def _open(photo: ProcessedPhoto) -> Image.Image:
    image = Image.open(io.BytesIO(photo.data))
    image.load()
    return image


def _assert_bare_jpeg(photo: ProcessedPhoto) -> Image.Image:
    assert photo.content_type == "image/jpeg"
    image = _open(photo)
    assert image.format == "JPEG"
    assert (image.width, image.height) == (photo.width, photo.height)
    assert not image.getexif()
    for key in ("exif", "icc_profile", "comment", "xmp", "XML:com.adobe.xmp"):
        assert key not in image.info, key
    assert b"Exif" not in photo.data
    return image


def test_jpeg_loses_exif_and_gps_and_is_turned_upright(rules):
    data = _jpeg_with_gps(400, 300)
    assert b"SecretCam" in data
    assert b"Exif" in data
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)
    photo = process_photo(data, rules, "IMG_0001.jpg")
    image = _assert_bare_jpeg(photo)
    for secret in (b"SecretCam", b"Model X-9", b"Secret Road", b"GPS"):
        assert secret not in photo.data
    # Orientation 6: the stored photo is upright, so width and height are swapped.
    assert (photo.width, photo.height) == (300, 400)
    # The white band that was on top of the raw pixels is on the right after a 90° clockwise turn.
    right = image.getpixel((photo.width - 5, photo.height // 2))
    left = image.getpixel((5, photo.height // 2))
    assert min(right) > 230
    assert left[1] < 80


def test_png_with_alpha_and_text_is_flattened_on_white(rules):
    image = Image.new("RGBA", (120, 80), (0, 0, 255, 255))
    image.paste((0, 0, 0, 0), (0, 0, 60, 80))  # left half fully transparent
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Resident Name")
    info.add_itxt("Comment", "home address 12 Secret Road")
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info)
    photo = process_photo(out.getvalue(), rules, "map.png")
    stored = _assert_bare_jpeg(photo)
    assert stored.mode == "RGB"
    assert (photo.width, photo.height) == (120, 80)
    assert min(stored.getpixel((10, 40))) > 245  # transparent → white
    red, green, blue = stored.getpixel((100, 40))
    assert blue > 200
    assert red < 40
    assert green < 40
    assert b"Secret Road" not in photo.data
    assert b"Resident Name" not in photo.data


def test_webp_is_accepted_and_large_photos_are_shrunk(rules):
    image = Image.new("RGB", (3000, 1000), (10, 120, 10))
    out = io.BytesIO()
    image.save(out, format="WEBP", quality=50)
    photo = process_photo(out.getvalue(), rules, "wide.webp")
    _assert_bare_jpeg(photo)
    assert max(photo.width, photo.height) == rules.max_side_px
    assert photo.width == rules.max_side_px
    assert abs(photo.height - rules.max_side_px / 3) <= 1


def _animated_gif() -> bytes:
    frames = [Image.new("P", (40, 30), colour) for colour in (1, 2, 3)]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def test_animated_gif_refused_when_not_accepted(rules):
    assert "GIF" not in rules.formats
    with pytest.raises(InputError) as caught:
        process_photo(_animated_gif(), rules, "funny.gif")
    assert caught.value.where == "photo"
    assert "GIF" in caught.value.problem
    assert "not accepted" in caught.value.problem
    assert "JPEG, PNG, WEBP" in caught.value.hint


def test_animated_gif_first_frame_when_accepted(rules):
    with_gif = rules.model_copy(update={"formats": (*rules.formats, "GIF")})
    photo = process_photo(_animated_gif(), with_gif, "funny.gif")
    image = _assert_bare_jpeg(photo)
    assert (photo.width, photo.height) == (40, 30)
    assert getattr(image, "n_frames", 1) == 1


def test_html_named_jpg_is_refused(rules):
    page = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
    with pytest.raises(InputError) as caught:
        process_photo(page, rules, "holiday.jpg")
    assert caught.value.where == "photo"
    assert "'holiday.jpg' is not an image" in caught.value.problem


def test_truncated_jpeg_is_refused(rules):
    image = Image.effect_noise((600, 400), 60).convert("RGB")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    whole = out.getvalue()
    with pytest.raises(InputError) as caught:
        process_photo(whole[: len(whole) // 2], rules, "cut.jpg")
    assert "damaged or incomplete" in caught.value.problem
    assert "truncated" in caught.value.problem


def _png_declaring(width: int, height: int) -> bytes:
    """A valid single-colour grey PNG of ``width`` × ``height``: a few KB that decode to a huge image."""
    row = b"\x00" + b"\x00" * width  # filter byte + one byte per pixel
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload)
        return len(payload).to_bytes(4, "big") + kind + payload + crc.to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def test_pixel_flood_is_refused_before_decoding(rules):
    flood = _png_declaring(20000, 20000)
    assert len(flood) < 1_000_000  # small on the wire, 400 megapixels decoded
    with pytest.raises(InputError) as caught:
        process_photo(flood, rules, "flood.png")
    assert caught.value.where == "photo"
    assert "pixels" in caught.value.problem
    assert "40 megapixels" in caught.value.problem


def test_pixel_limit_below_pillows_own_names_the_size(rules):
    tight = rules.model_copy(update={"max_pixels": 1_000_000})
    with pytest.raises(InputError) as caught:
        process_photo(_png_declaring(2000, 1000), tight, "big.png")
    assert caught.value.problem == "'big.png' is 2000 × 1000 pixels (2 megapixels); the limit is 1 megapixels"


def test_oversize_bytes_refused_before_decoding(rules):
    too_big = b"\xff\xd8\xff" + b"\x00" * (rules.max_bytes + 200_000)
    with pytest.raises(InputError) as caught:
        process_photo(too_big, rules, "huge.jpg")
    assert caught.value.problem == "'huge.jpg' is 10.2 MB; the limit is 10 MB"


def test_one_byte_over_the_limit_is_told_in_bytes(rules):
    with pytest.raises(InputError) as caught:
        process_photo(b"\x00" * (rules.max_bytes + 1), rules, "edge.jpg")
    assert caught.value.problem == "'edge.jpg' is 10,000,001 bytes; the limit is 10,000,000 bytes"


def test_empty_upload_is_refused(rules):
    with pytest.raises(InputError) as caught:
        process_photo(b"", rules)
    assert caught.value.where == "photo"
    assert "empty" in caught.value.problem


def test_polyglot_keeps_only_the_pixels(rules):
    image = Image.new("RGB", (64, 48), (40, 90, 160))
    out = io.BytesIO()
    image.save(out, format="JPEG")
    script = b"<script>alert('owned')</script><?php system($_GET['c']); ?>"
    polyglot = out.getvalue() + script
    photo = process_photo(polyglot, rules, "polyglot.jpg")
    _assert_bare_jpeg(photo)
    assert b"<script>" not in photo.data
    assert b"alert" not in photo.data
    assert b"<?php" not in photo.data
    assert (photo.width, photo.height) == (64, 48)


def test_the_declared_name_never_decides_the_type(rules):
    image = Image.new("RGB", (32, 32), (1, 2, 3))
    out = io.BytesIO()
    image.save(out, format="PNG")
    photo = process_photo(out.getvalue(), rules, "looks-like.gif")
    assert photo.content_type == "image/jpeg"
    assert _open(photo).format == "JPEG"


def _gif() -> bytes:
    out = io.BytesIO()
    Image.new("P", (40, 30), 1).save(out, format="GIF")
    return out.getvalue()


def _truncated_jpeg() -> bytes:
    out = io.BytesIO()
    Image.effect_noise((600, 400), 60).convert("RGB").save(out, format="JPEG", quality=90)
    return out.getvalue()[:4000]


def test_every_refusal_has_its_reason_and_numbers(rules):
    tight = rules.model_copy(update={"max_pixels": 1_000_000})
    accepted = tuple(rules.formats)
    cases = {
        "empty": (b"", rules, {}),
        "too_large": (
            b"\xff\xd8\xff" + b"\x00" * rules.max_bytes,
            rules,
            {"size": rules.max_bytes + 3, "limit": rules.max_bytes},
        ),
        "too_many_pixels": (
            _png_declaring(2000, 1000),
            tight,
            {"width": 2000, "height": 1000, "pixels": 2_000_000, "limit": 1_000_000},
        ),
        "not_accepted_type": (_gif(), rules, {"format": "GIF", "accepted": accepted}),
        "not_an_image": (b"<html>not a photo</html>", rules, {"accepted": accepted}),
    }
    for reason, (data, these_rules, values) in cases.items():
        with pytest.raises(PhotoError) as caught:
            process_photo(data, these_rules, "x.jpg")
        assert isinstance(caught.value, InputError)
        assert (caught.value.reason, caught.value.values) == (reason, values), reason
        assert caught.value.where == "photo"
    with pytest.raises(PhotoError) as flood:
        process_photo(_png_declaring(20000, 20000), rules, "flood.png")
    assert flood.value.reason == "too_many_pixels"
    assert flood.value.values == {"width": None, "height": None, "pixels": None, "limit": rules.max_pixels}
    with pytest.raises(PhotoError) as damaged:
        process_photo(_truncated_jpeg(), rules, "cut.jpg")
    assert damaged.value.reason == "damaged"
    assert "truncated" in damaged.value.values["detail"]
    assert set(REASONS) == {*cases, "damaged"}


def test_a_refusal_must_carry_exactly_its_reasons_values():
    with pytest.raises(ValueError, match="REASONS"):
        PhotoError("too_large", "too big", "smaller", size=3)
    with pytest.raises(ValueError, match="REASONS"):
        PhotoError("too_dark", "too dark", "more light")
