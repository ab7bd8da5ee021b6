"""Flask-WTF forms: CSRF on every one of them."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, StringField
from wtforms.validators import DataRequired, Length


class SubscribeForm(FlaskForm):
    email = StringField(_l("Email address"), validators=[DataRequired(_l("Please enter your email address.")), Length(max=320)])
    name = StringField(_l("Name (optional)"), validators=[Length(max=200)])
    # A honeypot: hidden from people, filled in by form-filling bots.
    website = StringField("Website", validators=[Length(max=200)])


class ConfirmForm(FlaskForm):
    pass


class PreferencesForm(FlaskForm):
    name = StringField(_l("Name"), validators=[Length(max=200)])
    # The chosen list ids arrive as repeated 'lists' fields; see views.preferences.


class DeleteForm(FlaskForm):
    confirm_delete = BooleanField(_l("Yes, delete everything about me"), validators=[DataRequired()])
    action = HiddenField(default="delete")
