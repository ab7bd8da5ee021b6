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
    name: str
    message: EmailMessage

    @property
    def html(self) -> str:
        part = self.message.get_body(("html",))
        return part.get_content() if part else ""

    @property
    def text(self) -> str:
        part = self.message.get_body(("plain",))
        return part.get_content() if part else ""


def _folder() -> Path:
    return current_app.config["NEWSLETTER"].instance_dir / "devinbox"


def _read(path: Path) -> Caught:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    return Caught(path.name, message)  # type: ignore[arg-type]


@blueprint.get("")
def inbox() -> str:
    paths = sorted(_folder().glob("*.eml"), reverse=True)[:MAX_LISTED]
    return render_template("site/devinbox.html", messages=[_read(p) for p in paths])


def _message(name: str) -> Caught:
    path = _folder() / name
    if "/" in name or not name.endswith(".eml") or not path.is_file():
        abort(404)
    return _read(path)


@blueprint.get("/<name>")
def show(name: str) -> str:
    return render_template("site/devinbox_message.html", caught=_message(name))


@blueprint.get("/<name>/html")
def html_part(name: str) -> Response:
    response = Response(_message(name).html, mimetype="text/html")
    # The message is shown as mail clients do: no script, no forms posting from our origin.
    response.headers["Content-Security-Policy"] = "sandbox allow-popups allow-popups-to-escape-sandbox"
    return response
