"""Receive uploads straight from the request stream into the upload store.

The size limit is enforced while the bytes arrive (413 as soon as a file passes it;
the partial file is deleted), not after buffering the whole body somewhere else.
Accepts ``multipart/form-data`` (file fields plus small text fields) or a raw body.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from kinoseal.api.http.problems import ApiProblem
from kinoseal.api.http.store.db import UploadRecord
from kinoseal.api.http.store.uploads import TooLarge, UploadStore, UploadWriter

MAX_FIELD_BYTES = 64 * 1024
DRAIN_BYTES = 16 * 1024**2  # after a 413, read this much more so the client sees the answer


class _FieldTooLarge(Exception):
    pass


class _TooManyFiles(Exception):
    pass


@dataclass
class Received:
    files: list[UploadRecord] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)


class _Form:
    def __init__(self, uploads: UploadStore, limit: int, file_fields: tuple[str, ...], max_files: int) -> None:
        self.uploads, self.limit, self.file_fields, self.max_files = uploads, limit, file_fields, max_files
        self.done: list[tuple[UploadWriter, str]] = []
        self.fields: dict[str, str] = {}
        self.writer: UploadWriter | None = None
        self.open_writers: list[UploadWriter] = []

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._begin, "on_part_data": self._data, "on_part_end": self._end,
            "on_header_field": self._hfield, "on_header_value": self._hvalue, "on_header_end": self._hend,
            "on_headers_finished": self._headers_done,
        }

    def _begin(self) -> None:
        self.headers: dict[bytes, bytes] = {}
        self.hname, self.hval = b"", b""
        self.writer, self.skip, self.buf = None, False, bytearray()
        self.name, self.filename = "", None

    def _hfield(self, data: bytes, start: int, end: int) -> None:
        self.hname += data[start:end]

    def _hvalue(self, data: bytes, start: int, end: int) -> None:
        self.hval += data[start:end]

    def _hend(self) -> None:
        self.headers[self.hname.lower()] = self.hval
        self.hname, self.hval = b"", b""

    def _headers_done(self) -> None:
        _, opts = parse_options_header(self.headers.get(b"content-disposition", b""))
        self.name = opts.get(b"name", b"").decode("utf-8", "replace")
        fn = opts.get(b"filename")
        self.filename = fn.decode("utf-8", "replace") if fn is not None else None
        if self.filename is not None:
            if self.name in self.file_fields and self.filename != "":
                if len(self.done) + 1 > self.max_files:
                    raise _TooManyFiles()
                self.writer = self.uploads.writer(self.limit)
                self.open_writers.append(self.writer)
            else:
                self.skip = True  # an empty file input, or a file under another name: ignored

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self.writer is not None:
            self.writer.write(data[start:end])
        elif not self.skip:
            self.buf += data[start:end]
            if len(self.buf) > MAX_FIELD_BYTES:
                raise _FieldTooLarge()

    def _end(self) -> None:
        if self.writer is not None:
            self.done.append((self.writer, self.filename or "upload"))
            self.writer = None
        elif not self.skip and self.name:
            self.fields[self.name] = self.buf.decode("utf-8", "replace")

    def abort(self) -> None:
        for w in self.open_writers:
            w.abort()


async def _drain(request: Request) -> None:
    n = 0
    with contextlib.suppress(Exception):
        async for chunk in request.stream():
            n += len(chunk)
            if n > DRAIN_BYTES:
                break


def _too_large(limit: int, metrics) -> ApiProblem:
    if metrics:
        metrics.rejected_uploads.labels("too_large").inc()
    return ApiProblem(413, f"the upload is over the limit of {limit} bytes ({limit / 1024**2:.0f} MiB)",
                      limit_bytes=limit)


async def receive(
    request: Request, uploads: UploadStore, *, limit: int, tenant: str, ephemeral: bool,
    file_fields: tuple[str, ...] = ("file",), max_files: int = 1, metrics=None,
) -> Received:
    """Stream the body into the upload store; returns the committed files and the text fields."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit * max_files + 1024 * 1024:
        raise _too_large(limit, metrics)
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype == b"multipart/form-data":
        boundary = params.get(b"boundary")
        if not boundary:
            raise ApiProblem(422, "the multipart body has no boundary")
        form = _Form(uploads, limit, file_fields, max_files)
        parser = MultipartParser(boundary, form.callbacks())
        try:
            async for chunk in request.stream():
                if chunk:
                    parser.write(chunk)
            parser.finalize()
        except TooLarge:
            form.abort()
            await _drain(request)
            raise _too_large(limit, metrics) from None
        except _TooManyFiles:
            form.abort()
            raise ApiProblem(413, f"too many files in one request (at most {max_files})") from None
        except _FieldTooLarge:
            form.abort()
            raise ApiProblem(413, f"a form field is over {MAX_FIELD_BYTES} bytes") from None
        except (MultipartParseError, ValueError) as exc:
            form.abort()
            raise ApiProblem(422, f"the multipart body is malformed ({str(exc)[:120]})") from None
        except BaseException:
            form.abort()
            raise
        got = Received(fields=form.fields)
        for w, name in form.done:
            got.files.append(uploads.commit(w, tenant=tenant, filename=name, ephemeral=ephemeral))
            if metrics:
                metrics.upload_bytes.inc(w.size)
        return got
    if ctype in (b"application/octet-stream", b"video/mp4", b"video/quicktime", b"video/webm",
                 b"video/x-matroska", b"application/mp4"):
        w = uploads.writer(limit)
        try:
            async for chunk in request.stream():
                w.write(chunk)
        except TooLarge:
            await _drain(request)
            raise _too_large(limit, metrics) from None
        except BaseException:
            w.abort()
            raise
        if w.size == 0:
            w.abort()
            raise ApiProblem(422, "the upload is empty")
        name = request.query_params.get("filename") or request.headers.get("x-filename") or "upload.mp4"
        if metrics:
            metrics.upload_bytes.inc(w.size)
        return Received(files=[uploads.commit(w, tenant=tenant, filename=name, ephemeral=ephemeral)])
    raise ApiProblem(415, "send the clip as multipart/form-data (field 'file') or as application/octet-stream")
