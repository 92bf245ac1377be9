"""The one-command demo: a synthetic local authority run through every carewatch service."""
