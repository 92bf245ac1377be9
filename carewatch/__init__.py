"""carewatch: case-level outcome tracking and danger-indicator alerts for children in care."""

__version__ = "0.1.0"
