"""The API's request and response bodies (marshmallow); the OpenAPI document is built from
them. Unknown fields in a request are refused (422), so a typo is never silently ignored."""

from __future__ import annotations

import datetime as dt

from marshmallow import Schema, ValidationError, fields, validate

from service.api.paging import PATTERN as CURSOR_PATTERN
from service.sending.states import DeliveryStatus, SendStatus
from service.subscribers.addresses import MAX_NAME
from service.subscribers.lists import SLUG
from service.subscribers.models import SUBSCRIBER_STATUSES, SUBSCRIPTION_STATUSES

# Text without control characters (PostgreSQL refuses NUL in text; none belongs in a filter).
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*$"
FIRST_YEAR, LAST_YEAR = 2000, 2200
MAX_PAGE = 100
DEFAULT_PAGE = 50
MAX_LIST_KEYS = 50


def plausible_time(value: dt.datetime) -> None:
    """A send time in a range the database and time zone arithmetic can hold."""
    try:
        year = value.astimezone(dt.UTC).year if value.tzinfo else value.year
    except OverflowError:
        year = 0
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValidationError(f"give a time between the years {FIRST_YEAR} and {LAST_YEAR}")


class StrictBoolean(fields.Boolean):
    """JSON true or false only: marshmallow would take 0, 1, "yes" and "off" too (and 0 is
    False to Python, so its truthy and falsy sets cannot tell them apart)."""

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def list_key_field() -> fields.String:
    return fields.String(validate=validate.Regexp(SLUG.pattern),
                         metadata={"description": "a list's key (slug)"})


def cursor_field() -> fields.String:
    return fields.String(validate=validate.Regexp(CURSOR_PATTERN), metadata={
        "description": "next_cursor of the previous page (opaque)"})


def limit_field() -> fields.Integer:
    return fields.Integer(load_default=DEFAULT_PAGE, validate=validate.Range(min=1, max=MAX_PAGE),
                          metadata={"description": f"items per page, at most {MAX_PAGE}"})



class ListSchema(Schema):
    key = fields.String(required=True, metadata={"description": "the list's slug"})
    name = fields.String(required=True)
    description = fields.String(required=True)
    language = fields.String(required=True)
    double_opt_in = fields.Boolean(required=True)
    created_at = fields.DateTime(required=True)


class SubscriptionSchema(Schema):
    list = fields.String(required=True, metadata={"description": "list key"})
    status = fields.String(required=True, validate=validate.OneOf(SUBSCRIPTION_STATUSES))


class SubscriberSchema(Schema):
    id = fields.Integer(required=True)
    email = fields.String(required=True)
    name = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(SUBSCRIBER_STATUSES))
    attributes = fields.Dict(keys=fields.String(), required=True)
    source = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    confirmed_at = fields.DateTime(required=True, allow_none=True)
    lists = fields.List(fields.Nested(SubscriptionSchema), required=True)


class SubscriberCreateSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(min=1, max=320),
                          metadata={"example": "reader@example.org"})
    name = fields.String(load_default="", validate=validate.Length(max=MAX_NAME),
                         metadata={"example": "Ada"})
    lists = fields.List(list_key_field(), required=True,
                        validate=validate.Length(min=1, max=MAX_LIST_KEYS),
                        metadata={"example": ["news"]})
    status = fields.String(load_default="pending",
                           validate=validate.OneOf(("pending", "confirmed")), metadata={
        "description": "pending (default): the reader gets the confirmation email of each "
                       "double opt-in list. confirmed: consent was collected elsewhere; "
                       "recorded as such in the reader's consent record."})
    attributes = fields.Dict(keys=fields.String(validate=validate.Length(max=100)),
                             load_default=dict)


class SubscriberUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(max=MAX_NAME))
    attributes = fields.Dict(keys=fields.String(validate=validate.Length(max=100)))
    status = fields.String(validate=validate.OneOf(("confirmed", "unsubscribed")), metadata={
        "description": "confirmed: confirm the pending subscriptions; "
                       "unsubscribed: leave every list"})


class SubscriberQuerySchema(Schema):
    limit = limit_field()
    cursor = cursor_field()
    list = list_key_field()
    status = fields.String(validate=validate.OneOf(SUBSCRIBER_STATUSES))
    email = fields.String(validate=[validate.Length(min=1, max=320),
                                    validate.Regexp(NO_CONTROL_CHARACTERS)],
                          metadata={"description": "exactly this address (any case)"})


class SubscriberPageSchema(Schema):
    items = fields.List(fields.Nested(SubscriberSchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class SendCreateSchema(Schema):
    issue = fields.String(required=True, validate=validate.Length(min=1, max=200),
                          metadata={"description": "the issue's slug", "example": "2026-09-14"})
    lists = fields.List(list_key_field(), required=True,
                        validate=validate.Length(min=1, max=MAX_LIST_KEYS),
                        metadata={"example": ["news"]})
    send_at = fields.DateTime(load_default=None, allow_none=True, validate=plausible_time,
                              metadata={
        "description": "null: now (or the issue's own send_at); a time without an offset "
                       "is read in the lists' time zone (else NEWSLETTER_TIMEZONE); "
                       f"years {FIRST_YEAR} to {LAST_YEAR}"})
    again = StrictBoolean(load_default=False, metadata={
        "description": "allow lists this issue already went to"})


class SendSummarySchema(Schema):
    id = fields.Integer(required=True)
    issue = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(tuple(SendStatus)))
    status_reason = fields.String(required=True)
    lists = fields.List(fields.String(), required=True)
    total = fields.Integer(required=True)
    scheduled_at = fields.DateTime(required=True, allow_none=True)
    created_at = fields.DateTime(required=True)
    started_at = fields.DateTime(required=True, allow_none=True)
    finished_at = fields.DateTime(required=True, allow_none=True)


class SendSchema(SendSummarySchema):
    counts = fields.Dict(keys=fields.String(validate=validate.OneOf(tuple(DeliveryStatus))),
                         values=fields.Integer(), required=True,
                         metadata={"description": "deliveries by state"})


class SendQuerySchema(Schema):
    limit = limit_field()
    cursor = cursor_field()
    status = fields.String(validate=validate.OneOf(tuple(SendStatus)))


class SendPageSchema(Schema):
    items = fields.List(fields.Nested(SendSummarySchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True)
