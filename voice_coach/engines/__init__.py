"""Speech-command recognisers behind one interface (see base.py)."""
