"""The listings input, judged record by record: ``listings.csv`` rows, photo files, label rows.

Pure functions, unit-tested without Spark; the stages are drivers around them.
Every record gets one verdict, an accepted row or a reason:

- the CSV itself: ``missing_csv``, ``empty_csv``, ``malformed_csv`` (not UTF-8, or no
  ``listing_id`` column); then it is one quarantined record and the day has no listings;
- a CSV row: ``malformed_row`` (another number of fields than the header),
  ``missing_listing_id``, ``bad_listing_id`` (:func:`listing_id_problem`: an id names a
  folder, so it must be safe as one path segment; unicode and spaces are fine, and every
  URL naming it percent-encodes it),
  ``duplicate_listing_id`` (a later row of an id already seen; the first is kept);
- a photo: the decoder's reasons (:data:`lakesight.imaging.REJECT_REASONS`), ``duplicate``
  (the same bytes as another photo of the listing), ``unknown_listing`` (its folder names
  no accepted listing), ``unexpected_file`` (outside ``photos/``, and not a CSV we read);
- a label row: ``unknown_photo`` (no accepted photo at that path), ``bad_label`` (a tag
  value the heads do not know).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import unicodedata
from collections.abc import Iterable

import pandas as pd

from lakesight.house_similarity import datasets
from lakesight.imaging import DecodeLimits, ImageRejected

MAX_LISTING_ID = 128
CSV_REASONS = ("missing_csv", "empty_csv", "malformed_csv")
ROW_REASONS = ("malformed_row", "missing_listing_id", "bad_listing_id", "duplicate_listing_id")
PHOTO_REASONS = ("duplicate", "unknown_listing", "unexpected_file")
LABEL_REASONS = ("unknown_photo", "bad_label")
UNKNOWN_LISTING = "unknown_listing"


def listing_id_problem(listing_id: str) -> str | None:
    """Why ``listing_id`` cannot name a listing, or None if it can.

    An id becomes the folder ``photos/<listing_id>/`` and a URL segment, so it must be one
    safe path segment: non-empty, at most :data:`MAX_LISTING_ID` characters, not ``.`` or
    ``..``, no ``/`` or ``\\``, no control characters. Anything else (spaces, ``ü``, ``#``,
    markup) is a real id: MLS and international systems use them; pages escape it and
    URLs percent-encode it."""
    if not listing_id:
        return "empty id"
    if len(listing_id) > MAX_LISTING_ID:
        return f"{len(listing_id)} characters > {MAX_LISTING_ID}"
    if listing_id in (".", ".."):
        return f"id {listing_id!r} names a folder's parent or itself"
    if "/" in listing_id or "\\" in listing_id:
        return f"id {listing_id!r} holds a path separator"
    if any(unicodedata.category(c) in ("Cc", "Cs") or c in "\u2028\u2029" for c in listing_id):
        return f"id {listing_id!r} holds a control character"
    return None


def rejected(path: str, reason: str, detail: str, listing_id: str | None = None) -> dict:
    return {"listing_id": listing_id, "path": path, "reason": reason, "detail": detail[:200]}


def parse_listings(data: bytes | None, csv_path: str) -> tuple[list[dict], list[dict]]:
    """``listings.csv`` → (accepted ``{"listing_id", "attributes"}``, rejected records).

    ``data`` None: the file is missing. A rejected row's path is ``<csv_path>:<line>``.
    Attributes are the other columns, as strings (a listing's attributes are whatever
    the source system exports; typing them is the consumer's business)."""
    if data is None:
        return [], [rejected(csv_path, "missing_csv", "no listings.csv in the partition")]
    if not data.strip():
        return [], [rejected(csv_path, "empty_csv", f"{len(data)} bytes, no header")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        return [], [rejected(csv_path, "malformed_csv", f"not UTF-8: {err}")]
    rows = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(rows)]
    if "listing_id" not in header:
        return [], [rejected(csv_path, "malformed_csv", f"no listing_id column in {header[:8]}")]
    key = header.index("listing_id")
    accepted, rejects, seen = [], [], {}
    for fields in rows:
        line = rows.line_num
        if not any(f.strip() for f in fields):
            continue  # a blank line is not a record
        where = f"{csv_path}:{line}"
        if len(fields) != len(header):
            rejects.append(
                rejected(where, "malformed_row", f"{len(fields)} fields, header has {len(header)}")
            )
            continue
        listing_id = fields[key].strip()
        if not listing_id:
            rejects.append(rejected(where, "missing_listing_id", "empty listing_id"))
        elif problem := listing_id_problem(listing_id):
            rejects.append(rejected(where, "bad_listing_id", problem))
        elif listing_id in seen:
            rejects.append(
                rejected(
                    where, "duplicate_listing_id", f"first on line {seen[listing_id]}", listing_id
                )
            )
        else:
            seen[listing_id] = line
            attributes = {
                h: f.strip() for h, f in zip(header, fields, strict=True) if h != "listing_id"
            }
            accepted.append({"listing_id": listing_id, "attributes": attributes})
    return accepted, rejects


def photo_owner(relative_path: str) -> tuple[str | None, str | None]:
    """(listing_id, why not) of a file by its path relative to the partition: a photo lives
    in ``photos/<listing_id>/``; anything else has no owner."""
    parts = relative_path.split("/")
    if parts[0] != datasets.PHOTOS_DIR:
        return None, "unexpected_file"
    if len(parts) < 3:
        return None, UNKNOWN_LISTING
    return parts[1], None


def validate_photo_batch(
    batch: pd.DataFrame, limits: DecodeLimits, partition_path: str, known_ids: frozenset[str]
) -> pd.DataFrame:
    """Judge photo files. In: ``path``, ``length``, ``content``. Out: :data:`datasets.PHOTO_SCHEMA`
    rows (``reason`` null for accepted photos; duplicates are found later, across batches)."""
    from lakesight.lake import spelled_path
    from lakesight.raw_files import decoded_or_quarantined, raw_file_row

    # Spark gives Hadoop's spelling (unencoded): the folder is read from it as spelled.
    prefix = spelled_path(partition_path).rstrip("/") + "/"
    rows = []
    for path, length, content in zip(batch["path"], batch["length"], batch["content"], strict=True):
        row = raw_file_row(datasets.PHOTO_COLUMNS, path, length, content, id_column="photo_id")
        listing_id, why_not = photo_owner(spelled_path(path).removeprefix(prefix))
        row["listing_id"] = listing_id
        if why_not:
            row["reason"], row["detail"] = why_not, "not under photos/<listing_id>/"
        elif listing_id not in known_ids:
            row["reason"], row["detail"] = (
                UNKNOWN_LISTING,
                f"{listing_id!r} is not an accepted listing",
            )
        elif image := decoded_or_quarantined(
            row, functools.partial(limits.decode, content, path), ImageRejected
        ):
            row.update(format=image.format, width=image.width, height=image.height)
        rows.append(row)
    out = pd.DataFrame(rows, columns=list(datasets.PHOTO_COLUMNS))
    return out.astype({"size": "int64", "width": "Int32", "height": "Int32"})


def parse_labels(data: bytes, classes: dict[str, Iterable[str]]) -> tuple[list[dict], list[dict]]:
    """``labels.csv`` (``photo,exterior,style,stories``) → (usable rows, rejected rows).

    ``photo`` is relative to ``photos/``. ``exterior`` is 0/1; ``style`` and ``stories``
    may be empty (a photo that does not show them: only front exteriors do). Values
    outside ``classes`` (the heads' classes per tag) are ``bad_label``."""
    styles, stories = set(classes["style"]), set(classes["stories"])
    text = data.decode("utf-8-sig", errors="replace")
    rows = csv.DictReader(io.StringIO(text))
    usable, rejects = [], []
    for record in rows:
        where = f"{datasets.LABELS_FILE}:{rows.line_num}"
        photo = (record.get("photo") or "").strip()
        exterior = (record.get("exterior") or "").strip()
        style = (record.get("style") or "").strip() or None
        story = (record.get("stories") or "").strip() or None
        problem = None
        if not photo:
            problem = "no photo"
        elif exterior not in ("0", "1"):
            problem = f"exterior {exterior!r} is not 0 or 1"
        elif style is not None and style not in styles:
            problem = f"style {style!r} is not one of {sorted(styles)}"
        elif story is not None and story not in stories:
            problem = f"stories {story!r} is not one of {sorted(stories)}"
        if problem:
            rejects.append({"photo": photo or where, "reason": "bad_label", "detail": problem})
            continue
        usable.append(
            {"photo": photo, "exterior": int(exterior), "style": style,
             "stories": int(story) if story else None}
        )  # fmt: skip
    return usable, rejects


def split_of(photo: str, holdout_percent: int = 20) -> str:
    """``train`` or ``holdout`` by a hash of the photo's listing folder: all photos of a
    listing fall on one side, and the split never changes between runs."""
    listing = photo.split("/", 1)[0]
    bucket = int(hashlib.sha256(listing.encode()).hexdigest()[:8], 16) % 100
    return "holdout" if bucket < holdout_percent else "train"
