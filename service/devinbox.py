"""The development inbox: an SMTP server (aiosmtpd) that keeps every message it is sent in a
folder, and pages that list and show them. Only ``newsletter dev`` turns it on."""

from __future__ import annotations

import email
import email.policy
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from flask import Blueprint, Response, abort, current_app, render_template

blueprint = Blueprint("devinbox", __name__, url_prefix="/dev/inbox")
MAX_LISTED = 200


class _SaveHandler:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        tmp = self.folder / f".{name}"
        tmp.write_bytes(envelope.original_content or b"")
        tmp.replace(self.folder / name)
        return "250 Message kept in the dev inbox"


class DevInbox:
    def __init__(self, folder: Path, host: str, port: int) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.controller = Controller(
            _SaveHandler(folder), hostname=host, port=port, decode_data=False, enable_SMTPUTF8=True
        )

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


@dataclass(frozen=True)
class Caught:
    """One kept message. Whatever its bytes, reading it never raises: a part in an unknown
    charset, or one that is not text at all, shows as its bytes."""

    name: str
    message: EmailMessage

    def header(self, name: str) -> str:
        try:
            value = self.message[name]
            return "" if value is None else str(value)
        except Exception:  # noqa: BLE001 - a header the parser cannot read is shown raw
            raw = self.message.get_all(name, failobj=[])
            return " ".join(repr(item) for item in raw)

    def _part(self, subtype: str) -> str:
        try:
            part = self.message.get_body((subtype,))
        except Exception:  # noqa: BLE001
            return ""
        if part is None:
            return ""
        try:
            content = part.get_content()
            return content if isinstance(content, str) else _shown(content)
        except Exception:  # noqa: BLE001 - LookupError (unknown charset), decoding errors...
            return _shown(part.get_payload(decode=True) or b"")

    @property
    def html(self) -> str:
        return self._part("html")

    @property
    def text(self) -> str:
        return self._part("plain")


def _shown(data: bytes | object) -> str:
    """Bytes that are not text in any charset we know, as text a page can show."""
    if not isinstance(data, bytes):
        return repr(data)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return repr(data)[2:-1]


def _folder() -> Path:
    return current_app.config["NEWSLETTER"].instance_dir / "devinbox"


def _read(path: Path) -> Caught | None:
    try:
        data = path.read_bytes()
    except OSError:  # gone since the folder was listed
        return None
    message = email.message_from_bytes(data, policy=email.policy.default)
    return Caught(path.name, message)  # type: ignore[arg-type]


@blueprint.get("")
def inbox() -> str:
    paths = sorted(_folder().glob("*.eml"), reverse=True)[:MAX_LISTED]
    caught = [c for c in map(_read, paths) if c is not None]
    return render_template("site/devinbox.html", messages=caught)


def _message(name: str) -> Caught:
    path = _folder() / name
    if "/" in name or not name.endswith(".eml") or not path.is_file():
        abort(404)
    caught = _read(path)
    if caught is None:
        abort(404)
    return caught


@blueprint.get("/<name>")
def show(name: str) -> str:
    return render_template("site/devinbox_message.html", caught=_message(name))


@blueprint.get("/<name>/html")
def html_part(name: str) -> Response:
    response = Response(_message(name).html, mimetype="text/html")
    # The message is shown as mail clients do: no script, no forms posting from our origin.
    response.headers["Content-Security-Policy"] = "sandbox allow-popups allow-popups-to-escape-sandbox"
    return response
