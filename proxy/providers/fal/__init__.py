"""fal.ai (``fal_ai/<app id>``): synchronous runs of its image apps on ``fal.run``."""
