"""``newsletter lists`` and ``newsletter subscribers``."""

from __future__ import annotations

import sys

import click

from service.commands.support import cli_app


@click.group("lists", invoke_without_command=True)
@click.pass_context
def lists_group(context: click.Context) -> None:
    """Mailing lists; without a subcommand, every list with its subscriber counts."""
    if context.invoked_subcommand is not None:
        return
    from service.subscribers.lists import list_counts

    db = cli_app().extensions["db"]
    with db.session() as session:
        rows = list_counts(session)
    if not rows:
        click.echo("no lists yet: newsletter lists create SLUG --name NAME")
    for row in rows:
        m, c = row.mailing_list, row.counts
        opt_in = "double opt-in" if m.double_opt_in else "single opt-in"
        click.echo(
            f"{m.slug}  {m.name}  [{m.language}, {opt_in}]  confirmed={c.get('confirmed', 0)}"
            f" pending={c.get('pending', 0)} unsubscribed={c.get('unsubscribed', 0)}"
        )


@lists_group.command("create")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--description", default="")
@click.option("--language", type=click.Choice(["zh-CN", "en"]), default="zh-CN", show_default=True)
@click.option("--double-opt-in/--no-double-opt-in", default=True, show_default=True)
def lists_create(slug: str, name: str, description: str, language: str, double_opt_in: bool) -> None:
    """Create a list."""
    from service.subscribers.lists import ListError, create_list

    db = cli_app().extensions["db"]
    try:
        with db.session() as session:
            create_list(session, slug, name, language=language, double_opt_in=double_opt_in,
                        description=description)
    except ListError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created list {slug}")


@click.group("subscribers")
def subscribers_group() -> None:
    """Import and export subscribers."""


def _get_list(db, slug: str):  # type: ignore[no-untyped-def]
    from service.subscribers.lists import ListError, get_list

    try:
        with db.session() as session:
            return get_list(session, slug)
    except ListError as exc:
        raise click.ClickException(str(exc)) from None


@subscribers_group.command("import")
@click.argument("csv_file", type=click.File("rb"))
@click.option("--list", "slug", required=True, help="The list to subscribe them to.")
@click.option("--confirmed", is_flag=True,
              help="They confirmed elsewhere: send them issues without a confirmation email.")
def subscribers_import(csv_file, slug: str, confirmed: bool) -> None:  # type: ignore[no-untyped-def]
    """Import CSV_FILE (a header row with an 'email' column, or email,name rows)."""
    import os

    from service.subscribers.importer import import_csv, open_csv

    db = cli_app().extensions["db"]
    mailing_list = _get_list(db, slug)
    stream, counter = open_csv(csv_file)
    try:
        size = os.fstat(csv_file.fileno()).st_size
    except (OSError, ValueError):
        size = 0
    with click.progressbar(length=size or 1, label="importing", file=sys.stderr) as bar:
        done = 0

        def advance(_report) -> None:  # type: ignore[no-untyped-def]
            nonlocal done
            bar.update(counter.bytes_read - done)
            done = counter.bytes_read

        report = import_csv(db, stream, mailing_list, confirmed=confirmed, on_batch=advance)
    for bad in report.bad:
        click.echo(f"line {bad.line}: {bad.reason}", err=True)
    if report.bad_count > len(report.bad):
        click.echo(f"... and {report.bad_count - len(report.bad)} more bad rows", err=True)
    click.echo(
        f"{report.rows} rows: {report.imported} new subscribers, {report.subscribed} added to"
        f" {slug}, {report.duplicates} duplicates, {report.bad_count} bad rows"
    )


@subscribers_group.command("export")
@click.option("--list", "slug", required=True)
@click.option("--status", type=click.Choice(["pending", "confirmed", "unsubscribed"]), default=None,
              help="Only subscriptions in this state.")
@click.option("--output", type=click.File("w", encoding="utf-8"), default="-", show_default=True)
def subscribers_export(slug: str, status: str | None, output) -> None:  # type: ignore[no-untyped-def]
    """Write the list's subscribers as CSV."""
    from service.subscribers.exporter import export_csv

    db = cli_app().extensions["db"]
    count = export_csv(db, output, _get_list(db, slug), status)
    click.echo(f"exported {count} subscribers", err=True)


@subscribers_group.command("unsuppress")
@click.argument("email")
@click.option("--by", default=None, help="Who lifts it (recorded). Default: the OS user.")
def subscribers_unsuppress(email: str, by: str | None) -> None:
    """Lift a bounce, complaint or block from EMAIL, recording who did it and when. A
    complainer's lists stay unsubscribed: they must subscribe again themselves."""
    import getpass

    from service.bounces.policy import NotSuppressed, unsuppress
    from service.subscribers.services import find_subscriber

    db = cli_app().extensions["db"]
    by = by or getpass.getuser()
    with db.session() as session:
        try:
            subscriber = find_subscriber(session, email)
        except ValueError:  # not an address at all
            subscriber = None
        if subscriber is None:
            raise click.ClickException(f"no subscriber {email}")
        try:
            previous = unsuppress(session, subscriber, by)
        except NotSuppressed as exc:
            raise click.ClickException(str(exc)) from None
        status = subscriber.status
    click.echo(f"{email}: {previous} -> {status} (by {by})")
