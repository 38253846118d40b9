"""voice_coach: an offline, hands-free voice guide for giving a back rub."""

__version__ = "0.1.0"
