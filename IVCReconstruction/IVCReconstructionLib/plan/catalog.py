"""The stent catalogue: products, their size matrices and the properties a plan depends on.

The built-in catalogue is ``Resources/StentCatalog.json``; user files (same format) add
products or replace built-in ones with the same ``id``, so a centre can keep its own
inventory and fill in sizes that the built-in file marks as unknown. Every product carries
its source and whether its size matrix was verified in that source, and when.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

BUILTIN = Path(__file__).resolve().parents[2] / "Resources" / "StentCatalog.json"

_REQUIRED = (
    "id",
    "product",
    "manufacturer",
    "construction",
    "cell",
    "covered",
    "sizes",
    "source",
    "verified",
)


@dataclass(frozen=True)
class Product:
    """One stent product and its size matrix (diameter -> available lengths, mm)."""

    id: str
    product: str
    manufacturer: str
    construction: str  # "laser-cut", "braided", "balloon-expandable", ...
    cell: str  # "open", "closed", "covered", "unknown"
    covered: bool
    large_open_cells: bool  # a limb can be passed through its cells (inverted-Y)
    braided: bool
    achieved_area_fraction: float  # expected achieved / nominal area (R7); 1.0 when not braided
    sizes: dict[float, tuple[float, ...]]
    source: str
    verified: bool
    verified_date: str
    notes: str = ""

    @property
    def diameters_mm(self) -> list[float]:
        return sorted(self.sizes)

    @property
    def usable(self) -> bool:
        """A product without any size cannot be planned with."""
        return bool(self.sizes)

    def label(self, diameter: float, length: float) -> str:
        return f"{self.product} {diameter:g} x {length:g} mm"


@dataclass
class Catalog:
    products: dict[str, Product]
    files: list[str] = field(default_factory=list)

    def usable(self) -> list[Product]:
        return [p for p in self.products.values() if p.usable]

    def smallest_at_least(self, diameter_mm: float, require=lambda p: True) -> list[tuple[Product, float]]:
        """(product, diameter) with the smallest nominal diameter >= ``diameter_mm`` per product
        that satisfies ``require``, smallest first (R4/R5 sizing)."""
        out = []
        for p in self.usable():
            if not require(p):
                continue
            fits = [d for d in p.diameters_mm if d >= diameter_mm - 1e-9]
            if fits:
                out.append((p, fits[0]))
        return sorted(out, key=lambda pd: (pd[1], not pd[0].verified, pd[0].product))

    def length_at_least(self, product: Product, diameter: float, length_mm: float) -> float | None:
        """The shortest available length >= ``length_mm`` (R14), or None if none is long enough."""
        lengths = [x for x in product.sizes.get(diameter, ()) if x >= length_mm - 1e-9]
        return min(lengths) if lengths else None


def _product(entry: dict, where: str) -> Product:
    missing = [k for k in _REQUIRED if k not in entry]
    if missing:
        raise ValueError(f"{where}: product {entry.get('id', '?')!r} lacks {', '.join(missing)}")
    sizes: dict[float, tuple[float, ...]] = {}
    for size in entry["sizes"]:
        try:
            d = float(size["diameter_mm"])
            lengths = tuple(sorted(float(x) for x in size["lengths_mm"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"{where}: product {entry['id']!r} has a size without numeric diameter_mm and lengths_mm"
            ) from exc
        if d <= 0 or not lengths or min(lengths) <= 0:
            raise ValueError(f"{where}: product {entry['id']!r} has a non-positive or empty size {size}")
        sizes[d] = lengths
    braided = entry["construction"] == "braided"
    return Product(
        id=str(entry["id"]),
        product=str(entry["product"]),
        manufacturer=str(entry["manufacturer"]),
        construction=str(entry["construction"]),
        cell=str(entry["cell"]),
        covered=bool(entry["covered"]),
        large_open_cells=bool(entry.get("large_open_cells", False)),
        braided=braided,
        achieved_area_fraction=float(entry.get("achieved_area_fraction", 0.7 if braided else 1.0)),
        sizes=sizes,
        source=str(entry["source"]),
        verified=bool(entry["verified"]),
        verified_date=str(entry.get("verified_date", "")),
        notes=str(entry.get("notes", "")),
    )


def _read(path: Path) -> list[dict]:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise ValueError(f"stent catalogue {path} not found") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"stent catalogue {path} is not valid JSON (line {exc.lineno}): fix the file"
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("products"), list):
        raise ValueError(f"stent catalogue {path} must be an object with a 'products' list")
    return data["products"]


def load_catalog(*user_files: str | Path) -> Catalog:
    """The built-in catalogue, then each user file adding or replacing products by ``id`` (the
    built-in file given as a user file, as the module's catalogue field shows it, is read once).

    :raises ValueError: naming the file and product at fault.
    """
    products: dict[str, Product] = {}
    extra = [str(f) for f in user_files if Path(f).resolve() != BUILTIN]
    files = [str(BUILTIN), *extra]
    for path in files:
        for entry in _read(Path(path)):
            p = _product(entry, path)
            products[p.id] = p
    return Catalog(products, files)
