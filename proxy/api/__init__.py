"""Thin HTTP routers: each reads the request, runs the pipeline, writes the answer."""
