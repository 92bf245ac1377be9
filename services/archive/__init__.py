"""The durable event archive: every accepted event, with its receive time, in an append-only SQL table."""
