"""NRM: DNs, the class registry, validation and naming dialects."""
