"""Confirmation and welcome emails: the issue layout and inliner, compiled once per list and
language, then personalised by substitution like any issue."""

from __future__ import annotations

import threading
from email.message import EmailMessage
from pathlib import Path

import jinja2

from service.config import Config
from service.issues.compile import CompiledEmail, IssueRenderer
from service.issues.errors import IssueError
from service.issues.loader import split_front_matter
from service.issues.personalise import recipient_values
from service.mail.message import Envelope, build_message, smtp_address
from service.subscribers.models import MailingList, Subscriber

KINDS = ("confirm", "welcome")


class TransactionalEmails:
    def __init__(self, config: Config, renderer: IssueRenderer) -> None:
        self.config = config
        self.renderer = renderer
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(config.templates_dir / "email")),
            autoescape=False,  # Markdown source; the renderer escapes what it must
            undefined=jinja2.StrictUndefined,
        )
        self._compiled: dict[tuple, CompiledEmail] = {}
        self._lock = threading.Lock()

    def _compiled_for(self, kind: str, mailing_list: MailingList) -> CompiledEmail:
        language = mailing_list.language if mailing_list.language in ("zh-CN", "en") else "en"
        key = (kind, language, mailing_list.id, mailing_list.name, mailing_list.description)
        with self._lock:
            if key not in self._compiled:
                template = self.templates.get_template(f"{kind}/{language}.md")
                source = template.render(
                    list_name=mailing_list.name, list_description=mailing_list.description
                )
                meta, body, _ = split_front_matter(source, Path(f"{kind}/{language}.md"))
                if not {"subject", "title", "action"} <= meta.keys():
                    raise IssueError(f"{kind}/{language}.md", "needs subject, title and action")
                self._compiled[key] = self.renderer.compile_message(
                    f"{kind}-{language}", meta["subject"], meta["title"], body, meta["action"]
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
            to_name=subscriber.name,
            reply_to=self.config.reply_to,
            message_id_domain=self.config.message_id_domain,
        )
        return build_message(compiled, envelope, html, text)

