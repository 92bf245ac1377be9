"""The rules stream package."""
