"""FastAPI producers of the MnS the twin serves."""
