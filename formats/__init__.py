"""Wire formats: one pure parser per format."""
