"""Robustness: how localization degrades under common image degradations."""
