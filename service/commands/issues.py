"""``newsletter issues`` and ``newsletter render``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from service.commands.support import cli_app, cli_config


@click.group("issues")
def issues_group() -> None:
    """The issues in the issues folder."""


@issues_group.command("list")
def issues_list() -> None:
    """Every issue with date, slug and title, newest first; bad files and guesses (a title
    made up for a file that names none) are named on stderr."""
    from service.issues.loader import load_issues

    config = cli_config()
    collection = load_issues(config.issues_dir, config.timezone)
    for issue in collection.issues:
        flags = " (draft)" if issue.draft else ""
        click.echo(f"{issue.date.isoformat()}  {issue.slug}  {issue.title}{flags}")
    for warning in collection.warnings:
        click.echo(f"warning: {warning}", err=True)
    for error in collection.errors:
        click.echo(f"error: {error}", err=True)
    if collection.errors:
        sys.exit(1)


@click.command("render")
@click.argument("issue")
@click.option(
    "--format", "fmt", type=click.Choice(["html", "text", "eml"]), default="html", show_default=True
)
@click.option(
    "--to",
    "address",
    default="reader@example.com",
    show_default=True,
    help="The recipient whose links and headers the output carries.",
)
def render(issue: str, fmt: str, address: str) -> None:
    """Render ISSUE (a file path or a slug from the issues folder) to stdout."""
    from service.issues.errors import IssueError
    from service.issues.loader import load_issue
    from service.mail.message import HeaderInjectionError
    from service.sending.preview import RecipientError, personal_values, preview_message

    config = cli_config()
    app = cli_app(config)
    library = app.extensions["issues"]
    try:
        path = Path(issue)
        if path.is_file():
            loaded = load_issue(path, config.timezone)
        else:
            loaded = library.collection().by_slug(issue)
            if loaded is None:
                raise click.ClickException(f"no issue file or slug {issue!r}")
        for warning in loaded.warnings:
            click.echo(f"warning: {warning}", err=True)
        compiled = library.renderer.compile(loaded, library.collection().slug_for_stem)
        for asset in compiled.missing_assets:
            click.echo(
                f"warning: {loaded.path.name}: asset not found in the issues folder: {asset}",
                err=True,
            )
        links = app.extensions["subscribers"].links
        if fmt == "eml":
            sys.stdout.buffer.write(
                preview_message(config, app.extensions["db"], links, compiled, address)
            )
            return
        html, text = compiled.personalise(personal_values(links, compiled, address))
        sys.stdout.buffer.write((html if fmt == "html" else text).encode("utf-8"))
    except (IssueError, RecipientError, HeaderInjectionError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
