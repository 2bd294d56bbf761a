"""Recraft (``recraft/<model>``): OpenAI-shaped image generation with Recraft's own extras."""
