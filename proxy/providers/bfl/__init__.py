"""Black Forest Labs (``black_forest_labs/<model>``): FLUX image generation and edits on an
asynchronous API (submit, then poll a task)."""
