"""Together AI (``together_ai/<vendor>/<model>``): image generation, and edits through the
same endpoint."""
