"""The Extensions Index entry (``IVCReconstruction.json``) agrees with the top-level CMakeLists.txt.

Slicer's Extensions Index holds one ``<ExtensionName>.json`` per extension; this file is the copy
submitted there. Its pull-request checklist asks that the json be consistent with the top-level
CMakeLists.txt, and its checker validates the file against the catalog entry schema it names.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

REPO = Path(__file__).resolve().parent.parent
ENTRY_FILE = REPO / "IVCReconstruction.json"
EXTENSION_CMAKE = REPO / "CMakeLists.txt"

# Key names of the catalog entry schema, slicer-extension-catalog-entry-schema-v1.0.1.json
# (Slicer/ExtensionsIndex: schemas/; published by Slicer/Slicer under Schemas/). The schema
# allows no other keys.
REQUIRED_KEYS = {"$schema", "category", "scm_url"}
ALLOWED_KEYS = REQUIRED_KEYS | {
    "scm_revision",
    "scm_type",
    "build_dependencies",
    "build_subdirectory",
    "enabled",
    "tier",
}
SCHEMA_URL = re.compile(
    r"https://raw\.githubusercontent\.com/Slicer/Slicer/main/Schemas/"
    r"slicer-extension-catalog-entry-schema-v1\.0\.[12]\.json#?"
)


@pytest.fixture(scope="module")
def entry_text() -> str:
    return ENTRY_FILE.read_bytes().decode("utf-8")


@pytest.fixture(scope="module")
def entry(entry_text: str) -> dict[str, Any]:
    data = json.loads(entry_text)
    assert isinstance(data, dict), "the entry must be a JSON object"
    return data


@pytest.fixture(scope="module")
def cmake_settings() -> dict[str, str]:
    """The one-line ``set(EXTENSION_X "value")`` calls of the top-level CMakeLists.txt."""
    text = EXTENSION_CMAKE.read_text(encoding="utf-8")
    return dict(re.findall(r'^\s*set\(\s*(EXTENSION_[A-Z_]+)\s+"([^"]*)"\s*\)', text, re.MULTILINE))


def github_repository(url: str) -> str:
    """``owner/name`` (lower case, as GitHub ignores case) of a GitHub repository or page URL."""
    parts = urlsplit(url)
    assert parts.scheme == "https" and parts.netloc.lower() == "github.com", url
    owner, name = parts.path.strip("/").split("/")[:2]
    return f"{owner}/{name.removesuffix('.git')}".lower()


def test_entry_follows_the_catalog_schema(entry):
    assert entry.keys() >= REQUIRED_KEYS, f"missing: {REQUIRED_KEYS - entry.keys()}"
    assert entry.keys() <= ALLOWED_KEYS, f"not in the schema: {entry.keys() - ALLOWED_KEYS}"
    assert SCHEMA_URL.fullmatch(entry["$schema"]), entry["$schema"]
    for key in ("category", "scm_url", "scm_revision", "build_subdirectory"):
        assert isinstance(entry.get(key, ""), str), key
    dependencies = entry.get("build_dependencies", [])
    assert isinstance(dependencies, list) and all(isinstance(d, str) for d in dependencies)
    tier = entry.get("tier", 1)
    assert isinstance(tier, int) and not isinstance(tier, bool) and 1 <= tier <= 5, tier
    assert entry.get("scm_revision") == "main"


def test_entry_is_formatted_as_the_index_requires(entry, entry_text):
    """LF line endings, a final newline, no tabs, two-space indentation with one array item per
    line (the index's pre-commit runs prettier with multiline arrays)."""
    assert "\r" not in entry_text and "\t" not in entry_text
    assert entry_text == json.dumps(entry, indent=2, ensure_ascii=False) + "\n"


def test_entry_is_named_after_the_cmake_project():
    text = EXTENSION_CMAKE.read_text(encoding="utf-8")
    project = re.search(r"^\s*project\(\s*([A-Za-z0-9_]+)", text, re.MULTILINE)
    assert project, "no project() in CMakeLists.txt"
    assert ENTRY_FILE.stem == project[1]


def test_entry_matches_the_cmake_metadata(entry, cmake_settings):
    homepage = cmake_settings["EXTENSION_HOMEPAGE"]
    assert github_repository(entry["scm_url"]) == github_repository(homepage)
    # The index also requires the repository name to start with "Slicer".
    assert github_repository(entry["scm_url"]).split("/")[1].startswith("slicer")
    depends = cmake_settings["EXTENSION_DEPENDS"].split()
    assert entry.get("build_dependencies", []) == ([] if depends == ["NA"] else depends)
    assert entry["category"] == cmake_settings["EXTENSION_CATEGORY"]
