"""Page language with Flask-Babel: the list's language where a page is about one list, else the
reader's Accept-Language, else the site default. Catalogues are compiled at start-up."""

from __future__ import annotations

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, current_app, g, has_request_context, request
from flask_babel import Babel

TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"
# Site language codes (as lists store them) and the catalogue each one uses.
LOCALES = {"zh-CN": "zh", "en": "en"}


def compile_catalogues(out_dir: Path) -> Path:
    """Compile every messages.po to messages.mo under out_dir when the source is newer."""
    for po_path in TRANSLATIONS_DIR.glob("*/LC_MESSAGES/messages.po"):
        mo_path = out_dir / po_path.relative_to(TRANSLATIONS_DIR).with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        with po_path.open("rb") as source:
            catalog = read_po(source)
        tmp = mo_path.with_suffix(".tmp")
        with tmp.open("wb") as target:
            write_mo(target, catalog)
        tmp.replace(mo_path)
    return out_dir


def use_language(code: str | None) -> None:
    """Pin this request's pages to a list's language."""
    if code in LOCALES:
        g.page_language = code


def page_language() -> str:
    if has_request_context():
        pinned = g.get("page_language")
        if pinned:
            return pinned
        for value, _quality in request.accept_languages:
            primary = value.lower().split("-")[0]
            if primary == "zh":
                return "zh-CN"
            if primary == "en":
                return "en"
    default = current_app.config["NEWSLETTER"].language
    return default if default in LOCALES else "en"


def select_locale() -> str:
    return LOCALES[page_language()]


def init_babel(app: Flask, instance_dir: Path) -> None:
    compiled = compile_catalogues(instance_dir / "translations")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(compiled)
    app.config["BABEL_DEFAULT_LOCALE"] = "en"
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals["page_language"] = page_language
