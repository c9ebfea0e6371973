"""Mirror of a TS 28.532 producer into the twin."""
