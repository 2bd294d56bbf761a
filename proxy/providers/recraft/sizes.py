"""Recraft's accepted ``size`` values, per model family (Recraft API appendix, 2026).

Every family accepts the same aspect-ratio strings (``w:h``); the explicit ``WxH`` sizes
differ: V2/V3 share one list, V4 / V4.1 / V4.1 Utility (1K) another, the Pro models (2K) a
third. Vector models are listed with aspect ratios only; the raster family's sizes are also
let through for them (Recraft decides). An unknown model id (a third-party model Recraft
hosts, or a newer Recraft model) is checked against the union of every list.
"""

from __future__ import annotations

from dataclasses import dataclass

ASPECT_RATIOS = (
    "1:1", "2:1", "1:2", "3:2", "2:3", "4:3", "3:4", "5:4", "4:5",
    "6:10", "14:10", "10:14", "16:9", "9:16",
)  # fmt: skip

V2_V3_SIZES = (
    "1024x1024", "2048x1024", "1024x2048", "1536x1024", "1024x1536", "1365x1024",
    "1024x1365", "1280x1024", "1024x1280", "1707x1024", "1024x1707", "1434x1024",
    "1024x1434", "1820x1024", "1024x1820",
)  # fmt: skip

V4_SIZES = (
    "1024x1024", "1536x768", "768x1536", "1280x832", "832x1280", "1216x896", "896x1216",
    "1152x896", "896x1152", "832x1344", "1280x896", "896x1280", "1344x768", "768x1344",
)  # fmt: skip

V4_PRO_SIZES = (
    "2048x2048", "3072x1536", "1536x3072", "2560x1664", "1664x2560", "2432x1792",
    "1792x2432", "2304x1792", "1792x2304", "1664x2688", "2560x1792", "1792x2560",
    "2688x1536", "1536x2688",
)  # fmt: skip

ALL_SIZES = tuple(dict.fromkeys(V2_V3_SIZES + V4_SIZES + V4_PRO_SIZES))


@dataclass(frozen=True, slots=True)
class SizeFamily:
    name: str
    sizes: tuple[str, ...]

    def accepts(self, size: str) -> bool:
        return size in self.sizes or size in ASPECT_RATIOS

    def describe(self) -> str:
        return f"{', '.join(self.sizes)}, or an aspect ratio ({', '.join(ASPECT_RATIOS)})"


def size_family(model: str) -> SizeFamily:
    """The family whose size list applies to a Recraft model id."""
    name = model.lower()
    if name.startswith(("recraftv2", "recraftv3")):
        return SizeFamily("Recraft V2/V3", V2_V3_SIZES)
    if name.startswith("recraftv4"):
        if "_pro" in name:
            return SizeFamily("Recraft V4 Pro", V4_PRO_SIZES)
        return SizeFamily("Recraft V4", V4_SIZES)
    return SizeFamily("Recraft", ALL_SIZES)
