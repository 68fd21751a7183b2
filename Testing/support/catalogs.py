"""Catalogues for tests that need devices the built-in catalogue cannot offer.

The built-in catalogue has no IVC stent with large open cells and sourced sizes (docs/domain.md:
the Gianturco Z-stent's sizes were not found), so it cannot make an inverted-Y. Tests of the
inverted-Y geometry add one: a test device, not a product.
"""

from __future__ import annotations

from IVCReconstructionLib.plan.catalog import Catalog, Product, load_catalog

OPEN_CELL_IVC_STENT = Product(
    id="test-open-cell-ivc",
    product="Test open-cell IVC stent",
    manufacturer="(test device)",
    construction="laser-cut",
    cell="open",
    covered=False,
    large_open_cells=True,
    braided=False,
    achieved_area_fraction=1.0,
    sizes={20.0: (60.0, 80.0, 100.0), 22.0: (60.0, 80.0, 100.0), 24.0: (60.0, 80.0, 100.0)},
    source="test fixture: not a real device",
    verified=False,
    verified_date="",
)


def with_open_cell_ivc_stent(catalog: Catalog | None = None) -> Catalog:
    """``catalog`` (the built-in one by default) with the test's open-cell IVC stent added."""
    base = catalog or load_catalog()
    return Catalog({**base.products, OPEN_CELL_IVC_STENT.id: OPEN_CELL_IVC_STENT}, list(base.files))


def write_open_cell_catalog(path) -> str:
    """A catalogue file (the built-in format) holding only the test's open-cell IVC stent, for the
    command line's and the module's ``--catalog`` / catalogue file."""
    import json
    from pathlib import Path

    p = OPEN_CELL_IVC_STENT
    entry = {
        "id": p.id,
        "product": p.product,
        "manufacturer": p.manufacturer,
        "construction": p.construction,
        "cell": p.cell,
        "covered": p.covered,
        "large_open_cells": p.large_open_cells,
        "sizes": [{"diameter_mm": d, "lengths_mm": list(lengths)} for d, lengths in sorted(p.sizes.items())],
        "source": p.source,
        "verified": p.verified,
    }
    Path(path).write_text(json.dumps({"products": [entry]}, indent=1))
    return str(path)
