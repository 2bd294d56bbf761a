"""OpenRouter (``openrouter/<vendor>/<model>``): images through chat completions."""
