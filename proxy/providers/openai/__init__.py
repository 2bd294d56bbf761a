"""OpenAI and the servers that speak its API (Azure OpenAI, Xinference, Nscale, any other)."""
