"""Recipes: one job each, read top to bottom (setup, fit, save, score), wiring the library below."""
