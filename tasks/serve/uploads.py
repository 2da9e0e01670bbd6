"""What guards the uploads, for the service and the explorer alike: a body over the limit
refused while it streams in (413), at most a few uploads decoded and described at once
with a bounded queue (503 + ``Retry-After`` past it, before the body is read), and the
pipeline's own decoder judging what was uploaded (415).

Each upload decodes to up to ``max_image_pixels`` RGB bytes and runs a model or two: these
guards keep a flood of uploads from taking the memory and the cores that id queries need.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import numpy as np
from fastapi import HTTPException, UploadFile
from fastapi.responses import JSONResponse

T = TypeVar("T")
# Seconds a refused upload is told to wait: about one upload's decode and description.
RETRY_AFTER_S = 2


class UploadTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"upload: larger than the limit of {limit} bytes")


class UploadLimit:
    """ASGI middleware: a request body over ``limit`` bytes is refused with 413, by its
    Content-Length when it says one, else as soon as the streamed bytes pass the limit."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            response = JSONResponse({"detail": UploadTooLarge(self.limit).detail}, 413)
            return await response(scope, receive, send)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise UploadTooLarge(self.limit)
            return message

        return await self.app(scope, limited_receive, send)


class UploadGate:
    """At most ``slots`` uploads decoded and described at once, at most ``waiting`` more
    queued for a slot; an upload beyond both is refused at once (503 + Retry-After) rather
    than held, so neither memory nor the server's worker threads grow with a flood.

    The work runs on ``slots`` threads of the gate's own: the allocator keeps what a
    thread freed for that thread's next use, so analyses spread over the server's 40
    request threads would leave up to 40 uploads' worth resident however few ran at once.
    """

    def __init__(self, slots: int, waiting: int, max_decoded_bytes: int = 0) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.slots, self.waiting, self.max_decoded_bytes = slots, waiting, max_decoded_bytes
        self._workers = ThreadPoolExecutor(slots, thread_name_prefix="lakesight-upload",
                                           initializer=lower_priority)  # fmt: skip
        self._lock = threading.Lock()
        self.admitted = 0  # running + waiting
        self.refused = 0

    def full(self) -> bool:
        return self.admitted >= self.slots + self.waiting

    def refusal(self) -> HTTPException:
        with self._lock:
            self.refused += 1
        return HTTPException(
            503,
            f"uploads: {self.slots} being analysed and {self.waiting} waiting "
            f"(LAKESIGHT_SERVE_MAX_UPLOADS / LAKESIGHT_SERVE_UPLOAD_QUEUE); "
            f"retry in {RETRY_AFTER_S}s",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    def run(self, work: Callable[[], T]) -> T:
        """``work()`` on one of the slots, waiting for one in the queue if need be; its
        exceptions (an HTTPException for a bad upload) propagate to the caller."""
        with self._lock:
            admit = not self.full()
            self.admitted += admit
        if not admit:
            raise self.refusal()
        try:
            return self._workers.submit(work).result()
        finally:
            with self._lock:
                self.admitted -= 1

    def health(self) -> dict:
        return {"slots": self.slots, "queue": self.waiting, "admitted": self.admitted,
                "refused": self.refused, "max_decoded_bytes": self.max_decoded_bytes}  # fmt: skip


def lower_priority() -> None:
    """Run this thread (and the model runtime threads it starts) at a lower CPU priority:
    on a busy machine, id queries get the cores before upload analyses do."""
    import contextlib
    import os

    # Not Linux, or not allowed: the same priority, still bounded.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)  # Linux: this thread


class RefuseWhenFull:
    """ASGI middleware: an upload that the gate would refuse is refused before its body is
    read and parsed, so a flood costs the service a header's worth of work per request."""

    def __init__(self, app, gate: UploadGate, paths: frozenset[str]) -> None:
        self.app, self.gate, self.paths = app, gate, paths

    async def __call__(self, scope, receive, send):
        if (scope["type"] == "http" and scope["method"] == "POST"
                and scope["path"] in self.paths and self.gate.full()):  # fmt: skip
            refused = self.gate.refusal()
            response = JSONResponse({"detail": refused.detail}, 503, headers=refused.headers)
            return await response(scope, receive, send)
        return await self.app(scope, receive, send)


def decode_upload(upload: UploadFile, field: str, settings) -> np.ndarray:
    """An uploaded file's RGB pixels, judged by the pipeline's own decoder and limits; an
    upload it rejects is a 415 that says why."""
    from lakesight.imaging import ImageRejected, decode_image

    try:
        return decode_image(upload.file.read(), upload.filename or field,
                            max_pixels=settings.max_image_pixels,
                            min_side=settings.min_image_side).pixels  # fmt: skip
    except ImageRejected as err:
        raise HTTPException(415, f"{field}: not an image lakesight accepts ({err})") from None
