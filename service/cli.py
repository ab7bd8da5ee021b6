"""The ``newsletter`` command. Thin: each command calls into the service packages."""

from __future__ import annotations

import click

from service.commands import admin, api_tokens, bounces, issues, send, sends, serving, subscribers
from service.commands.dkim import dkim_group


@click.group()
def main() -> None:
    """Publish a Markdown newsletter by email, with a web archive."""


for command in (
    issues.issues_group, issues.render,
    subscribers.lists_group, subscribers.subscribers_group,
    serving.db_group, serving.serve, serving.inbound, serving.dev,
    send.send,
    sends.sends_group, sends.worker_command, sends.beat_command,
    bounces.bounces_group,
    admin.admin_group,
    api_tokens.api_tokens_group,
    dkim_group,
):
    main.add_command(command)

if __name__ == "__main__":
    main()
