"""Mail plumbing used by both subscribers and sending: the SMTP transport, message building
and header safety, and the outbox of one-off transactional mail."""
