"""Price data (``prices.yaml``, dated) and the cost of each request."""

from proxy.pricing.cost import PRICE_INPUTS, Cost, PriceInputs, Pricer
from proxy.pricing.table import PriceTable

__all__ = ["PRICE_INPUTS", "Cost", "PriceInputs", "PriceTable", "Pricer"]
