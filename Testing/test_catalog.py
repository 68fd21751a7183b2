"""The stent catalogue: built-in contents, user files, sizing look-ups, bad files."""

from __future__ import annotations

import json

import pytest

from IVCReconstructionLib.plan.catalog import BUILTIN, load_catalog


def test_builtin_catalogue_holds_the_sourced_matrices_and_atlas():
    cat = load_catalog()
    zilver = cat.products["zilver-vena"]
    assert zilver.verified and zilver.sizes == {14.0: (60.0, 100.0, 140.0), 16.0: (60.0, 100.0, 140.0)}
    assert cat.products["sinus-xl"].diameters_mm[0] == 16 and cat.products["sinus-xl"].diameters_mm[-1] == 36
    fortegra = cat.products["gore-viabahn-fortegra"]
    assert fortegra.covered and fortegra.diameters_mm[0] == 10 and fortegra.diameters_mm[-1] == 28
    atlas = cat.products["atlas"]
    assert atlas.manufacturer == "INVAMED" and not atlas.verified and not atlas.usable
    assert cat.products["wallstent"].braided and cat.products["wallstent"].achieved_area_fraction == 0.7
    assert cat.products["z-stent"].large_open_cells
    for p in cat.products.values():
        assert p.source and p.verified_date, p.id


def test_sizing_lookups():
    cat = load_catalog()
    # R4: the smallest catalogue diameter at or above the reference (and its segment floor).
    choices = cat.smallest_at_least(15.2)
    assert all(d >= 15.2 for _, d in choices)
    assert min(d for _, d in choices) == 16.0
    # R5: an IVC stent of 18 mm or more, from products that have one.
    ivc = cat.smallest_at_least(21.0)
    assert {p.id for p, _ in ivc} >= {"sinus-xl", "gore-viabahn-fortegra"}
    assert all(d >= 21.0 for _, d in ivc)
    # R14: lengths round up; None when no length is enough.
    zilver = cat.products["zilver-vena"]
    assert cat.length_at_least(zilver, 14.0, 61.0) == 100.0
    assert cat.length_at_least(zilver, 14.0, 141.0) is None


def test_user_file_adds_and_replaces(tmp_path):
    user = tmp_path / "centre.json"
    user.write_text(
        json.dumps(
            {
                "products": [
                    {
                        "id": "atlas",
                        "product": "Atlas Venous Stent",
                        "manufacturer": "INVAMED",
                        "construction": "laser-cut",
                        "cell": "open",
                        "covered": False,
                        "sizes": [{"diameter_mm": 16, "lengths_mm": [80, 100]}],
                        "source": "our IFU copy",
                        "verified": True,
                        "verified_date": "2026-11-20",
                    },
                    {
                        "id": "house-stent",
                        "product": "House",
                        "manufacturer": "Us",
                        "construction": "laser-cut",
                        "cell": "open",
                        "covered": False,
                        "sizes": [{"diameter_mm": 18, "lengths_mm": [60]}],
                        "source": "inventory",
                        "verified": True,
                    },
                ]
            }
        )
    )
    cat = load_catalog(user)
    assert cat.products["atlas"].usable and cat.products["atlas"].sizes == {16.0: (80.0, 100.0)}
    assert "house-stent" in cat.products
    assert len(cat.products) == len(load_catalog().products) + 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"items": []}', "must be an object with a 'products' list"),
        ('{"products": [{"id": "x"}]}', "lacks product"),
        (
            '{"products": [{"id": "x", "product": "X", "manufacturer": "M", "construction": "laser-cut", '
            '"cell": "open", "covered": false, "source": "s", "verified": false, '
            '"sizes": [{"diameter_mm": "big", "lengths_mm": [60]}]}]}',
            "numeric diameter_mm",
        ),
    ],
)
def test_bad_user_files_are_refused_with_the_file_named(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_catalog(path)


def test_builtin_file_is_where_the_module_ships_it():
    assert BUILTIN.name == "StentCatalog.json" and BUILTIN.parent.name == "Resources"
