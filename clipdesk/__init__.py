"""ClipDesk: find photos by what they show."""

__version__ = "0.1.0"
