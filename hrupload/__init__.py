"""hrupload: validate HR CSV exports and deliver them to the Purview HR data connector."""

__version__ = "0.1.0"
