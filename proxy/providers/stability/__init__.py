"""Stability AI: its own platform API (``api.stability.ai/v2beta``) and the tables of its image
services shared with the same services on Bedrock."""
