"""xAI (``xai/<model>``): Grok Imagine image generation and JSON image edits."""
