"""Confirmation, welcome and fresh-link emails: the issue layout and inliner, compiled once per
kind and language, then filled in by substitution like any issue.

A list's name and description are data, never source: the templates are rendered and
compiled with placeholders, and the values replace those placeholders afterwards, escaped
for HTML in the HTML part, as they are in the text part, and on one line in the subject.
Nothing a list is called can add front matter, Markdown, HTML or a header to the email.
"""

from __future__ import annotations

import re
import threading
from dataclasses import replace
from email.message import EmailMessage
from html import escape
from pathlib import Path

import jinja2

from service.config import Config
from service.issues.compile import CompiledEmail, IssueRenderer
from service.issues.errors import IssueError
from service.issues.loader import split_front_matter
from service.issues.personalise import recipient_values
from service.mail.message import Envelope, build_message, smtp_address
from service.subscribers.models import MailingList, Subscriber

KINDS = ("confirm", "welcome", "preferences")
LANGUAGES = ("zh-CN", "en")
# Letters only: Markdown, linkify, premailer and YAML all leave such a word alone.
PLACEHOLDERS = {
    "list_name": "QXZLISTNAMEQXZ",
    "list_description": "QXZLISTDESCRIPTIONQXZ",
}
# Characters that must not reach a header or a one-line field: controls and line breaks.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """Text for a header or a title: controls gone, every run of white space one space."""
    return " ".join(CONTROL.sub(" ", text).split())


class TransactionalEmails:
    def __init__(self, config: Config, renderer: IssueRenderer) -> None:
        self.config = config
        self.renderer = renderer
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(config.templates_dir / "email")),
            autoescape=False,  # only placeholders go in; values replace them after compiling
            undefined=jinja2.StrictUndefined,
        )
        self._skeletons: dict[tuple[str, str], CompiledEmail] = {}
        self._compiled: dict[tuple, CompiledEmail] = {}
        self._lock = threading.Lock()

    def _skeleton(self, kind: str, language: str) -> CompiledEmail:
        """The compiled email with placeholders where the list's name and description go."""
        key = (kind, language)
        if key not in self._skeletons:
            name = f"{kind}/{language}.md"
            source = self.templates.get_template(name).render(**PLACEHOLDERS)
            meta, body, _ = split_front_matter(source, Path(name))
            if not {"subject", "title", "action"} <= meta.keys():
                raise IssueError(name, "needs subject, title and action")
            self._skeletons[key] = self.renderer.compile_message(
                f"{kind}-{language}", str(meta["subject"]), str(meta["title"]), body,
                str(meta["action"]),
            )
        return self._skeletons[key]

    def _compiled_for(self, kind: str, mailing_list: MailingList) -> CompiledEmail:
        language = mailing_list.language if mailing_list.language in LANGUAGES else "en"
        key = (kind, language, mailing_list.id, mailing_list.name, mailing_list.description)
        with self._lock:
            if key not in self._compiled:
                self._compiled[key] = _fill(
                    self._skeleton(kind, language),
                    {"list_name": mailing_list.name, "list_description": mailing_list.description},
                )
            return self._compiled[key]

    def build(self, kind: str, mailing_list: MailingList, subscriber: Subscriber,
              action_url: str) -> EmailMessage:
        compiled = self._compiled_for(kind, mailing_list)
        html, text = compiled.personalise(
            recipient_values(email=subscriber.email, name=subscriber.name, action_url=action_url)
        )
        envelope = Envelope(
            mail_from=self.config.mail_from,
            to=smtp_address(subscriber.email),
            to_name=one_line(subscriber.name),
            reply_to=self.config.reply_to,
            message_id_domain=self.config.message_id_domain,
        )
        return build_message(compiled, envelope, html, text)


def _fill(skeleton: CompiledEmail, values: dict[str, str]) -> CompiledEmail:
    """The skeleton with each placeholder replaced by its value, as each part needs it."""
    html, text = skeleton.html, skeleton.text
    subject, title, preheader = skeleton.subject, skeleton.title, skeleton.preheader
    for field, placeholder in PLACEHOLDERS.items():
        value = values.get(field, "")
        flat = one_line(value)
        html = html.replace(placeholder, escape(flat, quote=True))
        text = text.replace(placeholder, flat)
        subject = subject.replace(placeholder, flat)
        title = title.replace(placeholder, flat)
        preheader = preheader.replace(placeholder, flat)
    return replace(skeleton, html=html, text=text, subject=one_line(subject), title=title,
                   preheader=preheader)
