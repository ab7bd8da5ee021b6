"""``newsletter sends`` (list, show, pause, resume, cancel), ``worker`` and ``beat``."""

from __future__ import annotations

import json
import os
import shutil
import sys

import click
from sqlalchemy import select

from service.commands.support import cli_app, cli_config


@click.group("sends", invoke_without_command=True)
@click.pass_context
def sends_group(context: click.Context) -> None:
    """Sends and their progress; without a subcommand, list them."""
    if context.invoked_subcommand is None:
        context.invoke(sends_list)


@sends_group.command("list")
def sends_list() -> None:
    """Every send, newest first, with its counts."""
    from service.sending.models import Send
    from service.sending.sends import progress

    db = cli_app().extensions["db"]
    with db.session() as session:
        for send_id in session.scalars(select(Send.id).order_by(Send.id.desc()).limit(100)):
            p = progress(session, send_id)
            click.echo(
                f"{send_id:>5}  {p.send.status:<9} {p.send.issue_slug}  total={p.send.total}"
                f" sent={p.counts.get('sent', 0)} failed={p.counts.get('failed', 0)}"
                f" remaining={p.remaining}"
            )


@sends_group.command("show")
@click.argument("send_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Everything as one JSON object.")
def sends_show(send_id: int, as_json: bool) -> None:
    """One send: status, times, the count of every delivery state, and its bounces,
    complaints and unsubscribes with their rates and reasons."""
    import logging

    from service.bounces.report import send_bounces
    from service.sending.sends import SendError, progress

    db = cli_app().extensions["db"]
    try:
        with db.session() as session:
            p = progress(session, send_id)
            bounces = send_bounces(session, send_id)
    except SendError as exc:
        raise click.ClickException(str(exc)) from None
    for warning in bounces.warnings:
        logging.getLogger("service.bounces.report").warning("send %s: %s", send_id, warning)
    if as_json:
        click.echo(json.dumps(_show_record(p, bounces), ensure_ascii=False))
        return
    _show_text(p)
    _show_bounces(bounces)


def _show_record(p, bounces) -> dict:  # type: ignore[no-untyped-def]
    s = p.send
    when = {name: (getattr(s, name).isoformat() if getattr(s, name) else None)
            for name in ("scheduled_at", "started_at", "finished_at")}
    return {"id": s.id, "issue": s.issue_slug, "subject": s.subject, "status": s.status,
            "status_reason": s.status_reason, **when, "total": s.total, "counts": p.counts,
            "remaining": p.remaining, "bounces": bounces.as_dict()}


def _show_bounces(b) -> None:  # type: ignore[no-untyped-def]
    click.echo(f"bounces: {b.hard} hard ({b.hard_rate:.2%}), {b.soft} soft"
               f" ({b.rate(b.soft):.2%}); complaints: {b.complaints} ({b.complaint_rate:.2%});"
               f" unsubscribes: {b.unsubscribes} ({b.rate(b.unsubscribes):.2%})"
               f" of {b.went_out} sent")
    if b.reasons:
        click.echo("reasons: " + ", ".join(f"{r} {n}" for r, n in b.reasons.items()))
    for warning in b.warnings:
        click.echo(f"warning: {warning}")


def _show_text(p) -> None:  # type: ignore[no-untyped-def]
    s = p.send
    click.echo(f"send {s.id}: {s.issue_slug} — {s.subject}")
    click.echo(f"status: {s.status}{': ' + s.status_reason if s.status_reason else ''}")
    for label, value in (("scheduled", s.scheduled_at), ("started", s.started_at), ("finished", s.finished_at)):
        if value:
            click.echo(f"{label}: {value.isoformat()}")
    click.echo(f"recipients: {s.total}")
    for status, count in sorted(p.counts.items()):
        click.echo(f"  {status}: {count}")


def _control(send_id: int, action: str) -> None:
    from service.sending.control import control_send
    from service.sending.sends import SendError

    app = cli_app()
    try:
        status = control_send(app.extensions["db"], app.config["NEWSLETTER"], send_id, action)
    except SendError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"send {send_id}: {status}")


@sends_group.command("pause")
@click.argument("send_id", type=int)
def sends_pause(send_id: int) -> None:
    """Stop sending; what is not sent yet waits."""
    _control(send_id, "pause")


@sends_group.command("resume")
@click.argument("send_id", type=int)
def sends_resume(send_id: int) -> None:
    """Carry on with a paused send."""
    _control(send_id, "resume")


@sends_group.command("cancel")
@click.argument("send_id", type=int)
def sends_cancel(send_id: int) -> None:
    """Stop for good; nothing more of this send goes out."""
    _control(send_id, "cancel")


def _celery(*args: str) -> None:
    celery = shutil.which("celery") or os.path.join(os.path.dirname(sys.executable), "celery")
    os.execv(celery, [celery, "-A", "worker", *args])


@click.command("worker", context_settings={"ignore_unknown_options": True})
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def worker_command(celery_args: tuple[str, ...]) -> None:
    """A Celery worker: the same as 'celery -A worker worker'."""
    cli_config()
    _celery("worker", "--loglevel=INFO", *celery_args)


@click.command("beat", context_settings={"ignore_unknown_options": True})
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def beat_command(celery_args: tuple[str, ...]) -> None:
    """Celery beat: the same as 'celery -A worker beat'."""
    config = cli_config()
    schedule = config.instance_dir / "celerybeat-schedule"
    config.instance_dir.mkdir(parents=True, exist_ok=True)
    _celery("beat", "--loglevel=INFO", f"--schedule={schedule}", *celery_args)
