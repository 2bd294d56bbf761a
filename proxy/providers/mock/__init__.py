"""``mock/<anything>``: an offline provider that renders placeholder PNGs locally.

It exists so the quickstart works with no provider keys and so users can test their own
apps offline. It is not a model: the picture is a flat colour derived from the prompt.
"""
