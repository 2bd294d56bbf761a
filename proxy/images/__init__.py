"""Image delivery: ``response_format`` honoured for every provider, through an image store."""
