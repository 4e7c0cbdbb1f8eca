"""Call features, one module per feature, named as an installer says it (style rule 3)."""
