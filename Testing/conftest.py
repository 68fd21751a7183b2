"""Shared pytest fixtures: a real headless MRML scene (slicer-core) per test.

Creating a context (scene, application logic, eight module logics, 48 built-in nodes) takes
about 6-9 ms and closing it about 2 ms on the 2-core development box, so every test gets a fresh
scene (function scope) and tests cannot leak nodes into each other. The one-off cost of
``import slicer`` (~0.7 s) is paid by the first test that uses the fixture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from IVCReconstructionLib.scene.context import MRMLContext, create_scene, load_mrb, save_mrb

# The shared checks in support/ assert too; rewritten like a test's asserts, a failure shows
# the values compared, not only the message.
pytest.register_assert_rewrite("support.robustness_cells")


@pytest.fixture
def mrml(tmp_path: Path) -> Iterator[MRMLContext]:
    """A fresh MRML context whose temporary files live under the test's ``tmp_path``."""
    ctx = create_scene(tmp_path / "mrml_context")
    yield ctx
    ctx.close()


@pytest.fixture
def mrb_roundtrip(tmp_path: Path) -> Iterator[Callable[[MRMLContext], MRMLContext]]:
    """Save a context's scene as ``.mrb`` and load it into a new context (closed at teardown)."""
    reloaded: list[MRMLContext] = []

    def roundtrip(ctx: MRMLContext) -> MRMLContext:
        n = len(reloaded)
        path = save_mrb(ctx, tmp_path / f"roundtrip{n}" / "scene.mrb")
        loaded = load_mrb(path, tmp_path / f"reloaded{n}")
        reloaded.append(loaded)
        return loaded

    yield roundtrip
    for ctx in reloaded:
        ctx.close()


@pytest.fixture(scope="session")
def phantom_of():
    """Phantoms shared by all tests of a session, built once per set of options (a 1 mm
    phantom takes about 5 s to build)."""
    from IVCReconstructionLib.phantom import PhantomOptions, make_phantom

    cache = {}

    def get(**options):
        key = tuple(sorted(options.items()))
        if key not in cache:
            cache[key] = make_phantom(PhantomOptions(**options))
        return cache[key]

    return get


@pytest.fixture(scope="session")
def segmentation_of(phantom_of):
    """The seeded segmentation of a phantom (from its own seeds), computed once per session."""
    from IVCReconstructionLib.segment.seeded import segment_veins

    cache = {}

    def get(**options):
        key = tuple(sorted(options.items()))
        if key not in cache:
            ph = phantom_of(**options)
            cache[key] = segment_veins(ph.image, ph.ijk_to_ras, ph.seeds)
        return cache[key]

    return get


@pytest.fixture(scope="session")
def may_thurner_dicom(tmp_path_factory):
    """A May-Thurner phantom (2 mm: a left common iliac compression, one stent) written as a
    DICOM CT series and planned from it by ``ivc-plan plan`` without IVUS, once per session:
    the DICOM outputs' tests and the IVUS tests start from it."""
    import json

    from IVCReconstructionLib.cli import main
    from IVCReconstructionLib.inputs.volumes import read_volume
    from IVCReconstructionLib.phantom.dicom_series import write_dicom_series

    root = tmp_path_factory.mktemp("may_thurner_dicom")
    phantom = root / "phantom"
    assert main(["phantom", "--out", str(phantom), "--spacing", "2", "--scenario", "may-thurner"]) == 0
    image, ijk_to_ras = read_volume(phantom / "phantom_ct.nii.gz")
    write_dicom_series(image, ijk_to_ras, root / "ct")
    out = root / "out"
    seeds = phantom / "seeds.mrk.json"
    assert main(["plan", "--volume", str(root / "ct"), "--seeds", str(seeds), "--out", str(out)]) == 0
    return {
        "ct": root / "ct",
        "seeds": seeds,
        "out": out,
        "plan": json.loads((out / "plan.json").read_text()),
    }
