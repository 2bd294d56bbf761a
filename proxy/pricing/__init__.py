"""Price data (``prices.yaml``, dated) and the cost of each request."""

from proxy.pricing.cost import Cost, PriceInputs, Pricer
from proxy.pricing.table import PriceTable

__all__ = ["Cost", "PriceInputs", "PriceTable", "Pricer"]
