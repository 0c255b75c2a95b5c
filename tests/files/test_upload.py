"""POST /api/files/: types told from the bytes, images made safe, limits, ownership."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from files.models import File
from tests.files.images import image_bytes, jpeg_with_gps_exif, pdf_bytes, png_bomb, two_frame_gif
from tests.support.factories import api_client_for, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner() -> Any:
    return make_user()


def upload(user: Any, name: str, data: bytes) -> Any:
    return api_client_for(user).post("/api/files/", {"file": SimpleUploadedFile(name, data)}, format="multipart")


@pytest.mark.parametrize(
    ("name", "data", "content_type", "size"),
    [
        ("shot.png", image_bytes(fmt="PNG"), "image/png", (64, 48)),
        ("photo.jpg", image_bytes(fmt="JPEG"), "image/jpeg", (64, 48)),
        ("pic.webp", image_bytes(fmt="WEBP"), "image/webp", (64, 48)),
        ("anim.gif", two_frame_gif(), "image/png", (20, 10)),
    ],
)
def test_it_stores_each_image_type_checked_from_its_bytes(
    owner: Any, name: str, data: bytes, content_type: str, size: tuple[int, int]
) -> None:
    response = upload(owner, name, data)

    assert response.status_code == 201, response.json()
    body = response.json()["data"]
    assert body["id"].startswith("file_") and len(body["id"]) == 21
    assert {k: body[k] for k in ("name", "content_type", "kind", "width", "height", "conversation_id")} == {
        "name": name,
        "content_type": content_type,
        "kind": "image",
        "width": size[0],
        "height": size[1],
        "conversation_id": None,
    }
    stored = File.objects.get(pk=body["id"])
    assert body["size"] == stored.size == len(bytes(stored.data))
    with Image.open(io.BytesIO(bytes(stored.data))) as image:
        assert image.size == size
        assert getattr(image, "n_frames", 1) == 1


@pytest.mark.parametrize(
    ("name", "data", "content_type", "text"),
    [
        ("notes.txt", b"Plain notes about llamas.", "text/plain", "Plain notes about llamas."),
        ("readme.md", b"# Title\n\nSome *markdown* here.", "text/markdown", "# Title\n\nSome *markdown* here."),
        (
            "report.pdf",
            pdf_bytes(["Quarterly revenue grew by nine percent."]),
            "application/pdf",
            "Quarterly revenue grew by nine percent.",
        ),
        ("中文.txt", "你好，世界。".encode("gb18030"), "text/plain", "你好，世界。"),
    ],
)
def test_it_stores_each_document_type_with_its_text(owner: Any, name: str, data: bytes, content_type: str, text: str) -> None:
    response = upload(owner, name, data)

    assert response.status_code == 201, response.json()
    body = response.json()["data"]
    assert (body["kind"], body["content_type"], body["size"], body["width"]) == ("document", content_type, len(data), None)
    text_response = api_client_for(owner).get(f"/api/files/{body['id']}/text")
    assert text_response.status_code == 200
    assert text_response.json()["data"] == {"id": body["id"], "name": name, "text": text}


def test_a_file_without_a_suffix_is_taken_for_what_its_bytes_are(owner: Any) -> None:
    assert upload(owner, "clipboard", image_bytes()).json()["data"]["kind"] == "image"
    assert upload(owner, "memo", b"just some words").json()["data"]["content_type"] == "text/plain"


def test_image_metadata_is_stripped(owner: Any) -> None:
    original = jpeg_with_gps_exif()
    with Image.open(io.BytesIO(original)) as image:
        assert image.getexif()[0x010F] == "SecretCam"

    body = upload(owner, "photo.jpg", original).json()["data"]

    stored = bytes(File.objects.get(pk=body["id"]).data)
    assert b"SecretCam" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert dict(image.getexif()) == {}


def test_a_large_image_is_scaled_down_to_the_useful_size(owner: Any, settings: Any) -> None:
    settings.LUXX_IMAGE_MAX_SIDE = 500

    body = upload(owner, "wide.png", image_bytes(2000, 1000)).json()["data"]

    assert (body["width"], body["height"]) == (500, 250)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("fake.pdf", image_bytes(), "fake.pdf is not a PDF (its content is a PNG image)."),
        ("fake.png", b"I am only text", "fake.png is not a PNG, JPEG, WebP or GIF image (its content is text)."),
        ("fake.txt", pdf_bytes(["x"]), "fake.txt is not a text file (its content is a PDF)."),
        ("bitmap.png", image_bytes(fmt="BMP"), "bitmap.png is not a PNG, JPEG, WebP or GIF image (its content is a BMP image)."),
        (
            "sheet.xlsx",
            b"PK\x03\x04whatever",
            "Unsupported file type .xlsx: attach a PNG, JPEG, WebP or GIF image, or a PDF, TXT or Markdown document.",
        ),
        (
            "blob",
            b"\x00\x01\x02\x03binary",
            "Unsupported file type: attach a PNG, JPEG, WebP or GIF image, or a PDF, TXT or Markdown document.",
        ),
    ],
)
def test_a_type_that_the_bytes_do_not_bear_out_is_415(owner: Any, name: str, data: bytes, message: str) -> None:
    response = upload(owner, name, data)

    assert response.status_code == 415
    assert response.json() == {"success": False, "message": message}
    assert not File.objects.exists()


@pytest.mark.parametrize(
    ("side", "message"),
    [
        (12_000, "The image is refused: decoded it would be 12000×12000 pixels, more than 50 megapixels."),
        # So large that Pillow itself refuses to open it.
        (30_000, "The image is refused: decoded, it would be far too large (a decompression bomb)."),
    ],
)
def test_a_decompression_bomb_is_a_clear_400(owner: Any, side: int, message: str) -> None:
    data = png_bomb(side, side)
    assert len(data) < 10_000

    response = upload(owner, "bomb.png", data)

    assert response.status_code == 400
    assert response.json() == {"success": False, "message": message}
    assert not File.objects.exists()


def test_a_corrupt_image_is_400(owner: Any) -> None:
    response = upload(owner, "broken.png", image_bytes()[:60])

    assert response.status_code == 400
    assert response.json()["message"] == "The image is corrupt or truncated."


@pytest.mark.parametrize(
    ("setting", "name", "data", "message"),
    [
        ("LUXX_MAX_IMAGE_MB", "big.png", None, "The image is larger than 1 MB."),
        ("LUXX_MAX_UPLOAD_MB", "big.txt", b"word " * 300_000, "The document is larger than 1 MB."),
    ],
)
def test_a_file_over_its_kind_limit_is_413(owner: Any, settings: Any, setting: str, name: str, data: bytes | None, message: str) -> None:
    settings.LUXX_MAX_IMAGE_MB = 2
    settings.LUXX_MAX_UPLOAD_MB = 2
    setattr(settings, setting, 1)
    if data is None:  # incompressible pixels: a PNG well over 1 MB
        data = _noise_png(1000)
    assert 1024 * 1024 < len(data) < 2 * 1024 * 1024

    response = upload(owner, name, data)

    assert response.status_code == 413
    assert response.json()["message"] == message


def _noise_png(side: int) -> bytes:
    import os

    out = io.BytesIO()
    Image.frombytes("RGB", (side, side // 2), os.urandom(side * (side // 2) * 3)).save(out, format="PNG")
    return out.getvalue()


def test_an_empty_file_is_400(owner: Any) -> None:
    response = upload(owner, "empty.txt", b"")

    assert response.status_code == 400


def test_a_scanned_pdf_without_text_is_400(owner: Any) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    response = upload(owner, "scan.pdf", bytes(pdf.output()))

    assert response.status_code == 400
    assert response.json()["message"] == "The PDF has no extractable text (it may be scanned images)."


def test_files_count_against_the_workspace_quota(owner: Any, settings: Any, tmp_path: Any) -> None:
    settings.LUXX_WORKSPACE_QUOTA_MB = 1
    settings.LUXX_WORKSPACE_ROOT = tmp_path
    (tmp_path / str(owner.pk)).mkdir()
    (tmp_path / str(owner.pk) / "big.bin").write_bytes(b"x" * (1024 * 1024 - 100))

    response = upload(owner, "notes.txt", b"two hundred bytes " * 12)

    assert response.status_code == 413
    assert response.json()["message"] == (
        "Your attachments and workspace would use more than your quota of 1 MB: delete some files or conversations first."
    )


def test_the_owner_reads_the_bytes_and_others_get_404_everywhere(owner: Any) -> None:
    file_id = upload(owner, "shot.png", image_bytes()).json()["data"]["id"]
    stranger = api_client_for(make_user())

    content = api_client_for(owner).get(f"/api/files/{file_id}/content")
    assert content.status_code == 200
    assert content["Content-Type"] == "image/png"
    assert content["X-Content-Type-Options"] == "nosniff"
    assert content["Content-Disposition"] == "inline; filename*=UTF-8''shot.png"
    assert content.content == bytes(File.objects.get(pk=file_id).data)

    for path in (f"/api/files/{file_id}", f"/api/files/{file_id}/content", f"/api/files/{file_id}/text"):
        assert stranger.get(path).status_code == 404
    assert stranger.delete(f"/api/files/{file_id}").status_code == 404
    assert api_client_for().get(f"/api/files/{file_id}/content").status_code == 401
    assert File.objects.filter(pk=file_id).exists()

    assert api_client_for(owner).delete(f"/api/files/{file_id}").status_code == 200
    assert not File.objects.filter(pk=file_id).exists()


def test_an_image_has_no_extracted_text(owner: Any) -> None:
    file_id = upload(owner, "shot.png", image_bytes()).json()["data"]["id"]

    response = api_client_for(owner).get(f"/api/files/{file_id}/text")

    assert response.status_code == 409
    assert response.json()["message"] == "Only a document has extracted text."


def test_files_never_sent_are_pruned_after_a_day(owner: Any, settings: Any) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from files.services import files_prune_unsent

    old = upload(owner, "old.png", image_bytes()).json()["data"]["id"]
    fresh = upload(owner, "fresh.png", image_bytes()).json()["data"]["id"]
    File.objects.filter(pk=old).update(created_at=timezone.now() - timedelta(hours=25))

    assert files_prune_unsent(older_than=timedelta(hours=settings.LUXX_UNSENT_FILE_HOURS)) == 1

    assert list(File.objects.values_list("id", flat=True)) == [fresh]
    assert settings.LUXX_PERIODIC_TASKS["files.tasks.prune_unsent_files"] == 3600.0
