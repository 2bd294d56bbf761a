"""Virtual keys, budgets, rate limits, end users and the per-request accounting hooks."""
