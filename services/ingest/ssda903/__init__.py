"""SSDA903 (children looked after return) import: CSV or XML return → validated carewatch events."""
