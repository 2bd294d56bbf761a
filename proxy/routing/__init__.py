"""Choosing a deployment for a model group, and retrying / falling back across them."""
