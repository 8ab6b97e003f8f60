"""Systems a user defines: baths, open quantum systems, stroke protocols."""
