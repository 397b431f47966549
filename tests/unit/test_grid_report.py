"""Pure rules of grid reports: the form, photo content checks, EXIF GPS and where the position comes from."""

from __future__ import annotations

import hashlib
import io
import random
from fractions import Fraction
from typing import Any

import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational
from pydantic import ValidationError

from connectors import grid
from connectors.grid import (
    CheckedPhoto,
    FormError,
    NotAnImage,
    PhotoTooLarge,
    build_report,
    check_photo,
    dms_to_degrees,
    gps_from_ifd,
    idempotency_key,
    parse_form,
    resolve_location,
)
from geo.crs import Crs

# --- real images, made here -------------------------------------------------------------------------------


def noise(size: tuple[int, int] = (256, 192), seed: int | None = None) -> Image.Image:
    """Random pixels, so the compressed scan is long and a cut through it lands in image data."""
    width, height = size
    return Image.frombytes("RGB", size, random.Random(seed).randbytes(width * height * 3))


def _rational(value: float) -> IFDRational:
    fraction = Fraction(value).limit_denominator(1_000_000)
    return IFDRational(fraction.numerator, fraction.denominator)


def gps_exif(lng: float, lat: float) -> Image.Exif:
    """An EXIF block with a GPS IFD as a phone camera writes it: unsigned DMS rationals + hemisphere letters."""

    def dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
        value = abs(value)
        degrees = int(value)
        minutes = int((value - degrees) * 60)
        seconds = round(((value - degrees) * 60 - minutes) * 60, 4)
        return _rational(degrees), _rational(minutes), _rational(seconds)

    exif = Image.Exif()
    exif[grid.GPS_IFD] = {1: "N" if lat >= 0 else "S", 2: dms(lat), 3: "E" if lng >= 0 else "W", 4: dms(lng)}
    return exif


def encode(image: Image.Image, fmt: str, exif: Image.Exif | None = None) -> bytes:
    out = io.BytesIO()
    if exif is None:
        image.save(out, fmt)
    else:
        image.save(out, fmt, exif=exif)
    return out.getvalue()


def jpeg(seed: int | None = None, gps: tuple[float, float] | None = None) -> bytes:
    return encode(noise(seed=seed), "JPEG", gps_exif(*gps) if gps else None)


def png(seed: int | None = None) -> bytes:
    return encode(noise(seed=seed), "PNG")


def truncated(data: bytes) -> bytes:
    return data[: int(len(data) * 0.8)]


# --- photo checks -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "content_type"), [("JPEG", "image/jpeg"), ("PNG", "image/png"),
                                                   ("WEBP", "image/webp")])
def test_jpeg_png_and_webp_are_accepted_by_their_decoded_format(fmt: str, content_type: str) -> None:
    data = encode(noise(seed=1), fmt)
    photo = check_photo(data)
    assert (photo.content_type, photo.width, photo.height) == (content_type, 256, 192)
    assert photo.photo_id == hashlib.sha256(data).hexdigest()
    assert photo.data == data and photo.gps is None


def test_a_text_file_is_refused_and_the_error_says_it_is_text() -> None:
    with pytest.raises(NotAnImage) as info:
        check_photo("这不是照片, just text pretending to be photo.jpg\n".encode())
    assert info.value.detected == "text"


def test_a_truncated_jpeg_passes_verify_but_is_refused() -> None:
    cut = truncated(jpeg(seed=2))
    Image.open(io.BytesIO(cut)).verify()  # why check_photo decodes as well: verify() alone lets this through
    with pytest.raises(NotAnImage) as info:
        check_photo(cut)
    assert "truncated JPEG" in info.value.detected


def test_a_truncated_png_is_refused() -> None:
    with pytest.raises(NotAnImage):
        check_photo(truncated(png(seed=3)))


@pytest.mark.parametrize(("fmt", "detected"), [("GIF", "a GIF image"), ("BMP", "a BMP image"),
                                               ("TIFF", "a TIFF image")])
def test_real_images_of_other_formats_are_refused_and_named(fmt: str, detected: str) -> None:
    with pytest.raises(NotAnImage) as info:
        check_photo(encode(noise((32, 32), seed=4), fmt))
    assert info.value.detected == detected


def test_empty_and_binary_junk_are_refused() -> None:
    with pytest.raises(NotAnImage, match="empty"):
        check_photo(b"")
    with pytest.raises(NotAnImage) as info:
        check_photo(bytes(range(256)) * 4)
    assert info.value.detected == "unrecognised binary data"


def test_more_pixels_than_the_hub_decodes_is_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grid, "MAX_PIXELS", 256 * 192 - 1)
    with pytest.raises(PhotoTooLarge, match="256×192"):
        check_photo(png(seed=5))


# --- EXIF GPS ---------------------------------------------------------------------------------------------


def test_dms_rationals_become_decimal_degrees() -> None:
    value = dms_to_degrees((IFDRational(22), IFDRational(49), IFDRational(1234, 100)))
    assert value == pytest.approx(22 + 49 / 60 + 12.34 / 3600, abs=1e-12)
    assert dms_to_degrees(((108, 1), (22, 1), (125, 10))) == pytest.approx(108 + 22 / 60 + 12.5 / 3600)


@pytest.mark.parametrize(("lng", "lat"), [(108.37, 22.82), (-73.9857, 40.7484), (151.2093, -33.8688),
                                          (-58.3816, -34.6037)])
def test_gps_written_by_a_camera_is_read_back_with_its_hemisphere(lng: float, lat: float) -> None:
    photo = check_photo(jpeg(seed=6, gps=(lng, lat)))
    assert photo.gps is not None
    assert photo.gps == pytest.approx((lng, lat), abs=1e-6)


def test_gps_in_png_and_webp_exif_is_read_too() -> None:
    for fmt in ("PNG", "WEBP"):
        photo = check_photo(encode(noise(seed=7), fmt, gps_exif(108.37, 22.82)))
        assert photo.gps == pytest.approx((108.37, 22.82), abs=1e-6), fmt


GOOD: dict[int, Any] = {1: "N", 2: (22.0, 49.0, 12.0), 3: "E", 4: (108.0, 22.0, 12.0)}


@pytest.mark.parametrize(("change", "why"), [
    ({1: None}, "no hemisphere letter: a guess could flip the point to another continent"),
    ({3: "X"}, "not a hemisphere letter"),
    ({2: (22.0, 61.0, 0.0)}, "61 minutes"),
    ({4: (108.0, 22.0, IFDRational(1, 0))}, "a zero denominator (nan)"),
    ({4: (181.0, 0.0, 0.0)}, "longitude beyond 180"),
    ({2: "22.8"}, "not rationals"),
    ({2: (0.0, 0.0, 0.0), 4: (0.0, 0.0, 0.0)}, "0,0: the camera had no fix"),
    ({9: "V"}, "GPSStatus void"),
])
def test_malformed_or_void_gps_means_no_gps(change: dict[int, Any], why: str) -> None:
    ifd = {**GOOD, **change}
    assert gps_from_ifd({k: v for k, v in ifd.items() if v is not None}) is None, why


def test_gps_refs_as_bytes_with_padding_are_understood() -> None:
    ifd = {**GOOD, 1: b"S\x00", 3: b"W\x00", 9: "A"}
    assert gps_from_ifd(ifd) == pytest.approx((-(108 + 22 / 60 + 12 / 3600), -(22 + 49 / 60 + 12 / 3600)))


# --- the form ---------------------------------------------------------------------------------------------

FIELDS = {"category": "exposed_rubbish", "content": "路边垃圾堆积", "lng": "108.37", "lat": "22.82"}


def error_fields(exc: ValidationError) -> set[str]:
    return {".".join(str(p) for p in e["loc"]) for e in exc.errors()}


def test_a_complete_form_parses_with_wgs84_by_default() -> None:
    form = parse_form({**FIELDS, "title": " 垃圾 ", "address": "民族大道100号", "report_id": "r-1"})
    assert (form.category, form.lng, form.lat, form.crs) == ("exposed_rubbish", 108.37, 22.82, Crs.WGS84)
    assert (form.title, form.report_id) == ("垃圾", "r-1")
    assert parse_form({**FIELDS, "crs": "gcj02"}).crs is Crs.GCJ02


@pytest.mark.parametrize(("fields", "named"), [
    ({"content": "x"}, "category"),
    ({"category": "   ", "content": "x"}, "category"),  # blank = missing: forms send every input
    ({"category": "c", "content": "字" * 2001}, "content"),
    ({"category": "c", "content": "x", "lng": "east"}, "lng"),
    ({"category": "c", "content": "x", "lng": "108", "lat": "95"}, "lat"),
    ({"category": "c", "content": "x", "crs": "mercator"}, "crs"),
    ({"category": "c", "content": "x", "report_id": "../../etc"}, "report_id"),
    ({"category": "c", "content": "x", "lon": "108.3"}, "lon"),  # a typo is reported, not dropped
])
def test_bad_fields_are_named(fields: dict[str, str], named: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_form(fields)
    assert named in error_fields(info.value)


def test_content_of_exactly_2000_characters_is_accepted() -> None:
    assert len(parse_form({"category": "c", "content": "字" * 2000}).content) == 2000


@pytest.mark.parametrize(("given", "missing"), [("lng", "lat"), ("lat", "lng")])
def test_half_a_coordinate_names_the_missing_half(given: str, missing: str) -> None:
    with pytest.raises(FormError) as info:
        parse_form({"category": "c", "content": "x", given: "22.8"})
    assert [f["field"] for f in info.value.fields] == [missing]


# --- where the position comes from ------------------------------------------------------------------------


def checked(gps: tuple[float, float] | None) -> CheckedPhoto:
    return CheckedPhoto("0" * 64, "image/jpeg", b"", 1, 1, gps)


def test_the_form_point_wins_over_exif() -> None:
    form = parse_form({**FIELDS, "crs": "bd09"})
    location = resolve_location(form, [checked((100.0, 20.0))])
    assert location.point == (108.37, 22.82, Crs.BD09) and location.source == "form"


def test_without_a_form_point_the_first_photo_with_gps_is_used_as_wgs84() -> None:
    form = parse_form({"category": "c", "content": "x", "crs": "gcj02"})
    location = resolve_location(form, [checked(None), checked((108.3, 22.8)), checked((100.0, 20.0))])
    assert location.point == (108.3, 22.8, Crs.WGS84) and location.source == "exif"


def test_an_address_alone_is_enough() -> None:
    form = parse_form({"category": "c", "content": "x", "address": "青秀区民族大道100号"})
    location = resolve_location(form, [checked(None)])
    assert location.point is None and location.source == "address"


def test_no_point_no_gps_and_no_address_is_refused_naming_lng_and_lat() -> None:
    with pytest.raises(FormError) as info:
        resolve_location(parse_form({"category": "c", "content": "x"}), [checked(None)])
    assert [f["field"] for f in info.value.fields] == ["lng", "lat"]


# --- what goes on the case --------------------------------------------------------------------------------


def test_the_report_keeps_channel_photos_reporter_and_location_source() -> None:
    form = parse_form({**FIELDS, "title": "垃圾", "report_id": "r-9"})
    report = build_report(form, ["a" * 64], "wang", "2026-05-01T08:00:00+00:00", "form")
    assert report == {
        "type": "report", "channel": "grid", "category": "exposed_rubbish", "content": "路边垃圾堆积",
        "reported_at": "2026-05-01T08:00:00+00:00", "photos": ["a" * 64], "reporter": {"name": "wang"},
        "location_source": "form", "title": "垃圾", "report_id": "r-9",
    }
    assert "address" not in report


def test_idempotency_is_per_reporter_and_fresh_without_a_report_id() -> None:
    assert idempotency_key("wang", "r-1") == "grid:wang:r-1"
    assert idempotency_key("li", "r-1") != idempotency_key("wang", "r-1")
    assert idempotency_key("wang", None) != idempotency_key("wang", None)
