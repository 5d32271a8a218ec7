"""matcher: recommends rural opportunities in France to urban project holders."""

__version__ = "0.1.0"
