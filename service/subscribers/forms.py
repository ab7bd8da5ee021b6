"""Flask-WTF forms: CSRF on every one of them. Fields are parsed here, never with ``int()``
on raw input."""

from __future__ import annotations

from collections.abc import Iterable

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, StringField
from wtforms.validators import DataRequired, Length

from service.subscribers.addresses import MAX_NAME
from service.subscribers.links import MAX_ID

NAME_TOO_LONG = _l("Please keep the name to %(max)d characters or fewer.", max=MAX_NAME)


class SubscribeForm(FlaskForm):
    email = StringField(_l("Email address"), validators=[DataRequired(_l("Please enter your email address.")), Length(max=320)])
    name = StringField(_l("Name (optional)"), validators=[Length(max=MAX_NAME, message=NAME_TOO_LONG)])
    # A honeypot: hidden from people, filled in by form-filling bots.
    website = StringField("Website", validators=[Length(max=200)])


class ConfirmForm(FlaskForm):
    pass


class PreferencesForm(FlaskForm):
    name = StringField(_l("Name"), validators=[Length(max=MAX_NAME, message=NAME_TOO_LONG)])
    # The chosen list ids arrive as repeated 'lists' fields: see chosen_ids.


class DeleteForm(FlaskForm):
    confirm_delete = BooleanField(_l("Yes, delete everything about me"), validators=[DataRequired()])
    action = HiddenField(default="delete")


def chosen_ids(values: Iterable[str]) -> set[int]:
    """The list ids a form chose: ASCII digits only (``'²'.isdigit()`` is true, and ``int``
    refuses it), within the ids' range; anything else is ignored."""
    return {
        int(value)
        for value in values
        if value.isascii() and value.isdecimal() and len(value) <= 10 and int(value) <= MAX_ID
    }
