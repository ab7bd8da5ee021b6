"""Outgoing webhooks: events recorded with the change that causes them (outbox), then posted
to the endpoints, HMAC-signed, with retries (delivery)."""
