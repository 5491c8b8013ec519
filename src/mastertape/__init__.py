"""mastertape: self-hosted audio mastering and restoration."""

__version__ = "0.1.0"
