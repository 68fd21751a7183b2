"""The module's .ui file loads in Qt's own loader (PySide6 ``QUiLoader``) as Slicer would load it.

test_slicer_shell.py reads the .ui as XML; this test has Qt build the widgets, which finds what
only Qt Designer or Slicer would otherwise show: a file Qt cannot read, or a widget Qt silently
drops because its class is not declared in ``<customwidgets>``. Slicer's classes (qMRML*, ctk*)
do not exist outside Slicer: the loader falls back to each declared class's ``<extends>`` base
and keeps the properties that base lacks as dynamic properties, which are checked here.

Qt runs in a subprocess (this file run as a script, ``QT_QPA_PLATFORM=offscreen``), so it never
shares the pytest process with VTK. The script prints one JSON object: for each .ui file, the
problems found and every Qt message. The names checked come from the .ui XML, so widgets added
to the file are checked without changes here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
UI_FILE = REPO / "IVCReconstruction" / "Resources" / "UI" / "IVCReconstruction.ui"

UNDECLARED_CLASS = re.compile(r"unable to create a widget of the class '(\w+)'")
FALLBACK_CLASS = re.compile(r"unable to create a custom widget of the class '(\w+)'")
# Properties whose value must come through the loader equal to the XML, for every widget ("*") and
# per class: the parameter-node binding, the node types a selector offers and the title of a
# collapsible section. None is a property of QWidget, the base these classes fall back to, so the
# loader keeps them as dynamic properties. They are read by name only: PySide6 adds an internal
# dynamic property, _PySideInvalidatePtr, whose value cannot be read (RuntimeError).
KEPT_PROPERTIES: dict[str, tuple[str, ...]] = {
    "*": ("SlicerParameterName",),
    "qMRMLNodeComboBox": ("nodeTypes",),
    "ctkCollapsibleButton": ("text",),
}


def xml_value(prop: ET.Element) -> Any:
    """The value of a .ui ``<property>`` element, for the value types compared here."""
    value = prop[0]
    if value.tag == "stringlist":
        return [item.text or "" for item in value.iter("string")]
    return value.text or ""


def xml_property(widget: ET.Element, name: str) -> ET.Element | None:
    return next((p for p in widget.findall("property") if p.get("name") == name), None)


def check_ui(ui_path: Path, messages: list[str]) -> list[str]:
    """Problems of ``ui_path`` once loaded by QUiLoader (runs in the subprocess, in a QApplication);
    ``messages`` collects Qt's messages and is emptied first."""
    from PySide6.QtUiTools import QUiLoader
    from PySide6.QtWidgets import QWidget

    messages.clear()
    problems: list[str] = []
    loader = QUiLoader()
    try:
        root = loader.load(str(ui_path))
    except RuntimeError:  # PySide6 raises when Qt cannot read the file
        root = None
    if root is None or loader.errorString():
        problems.append(f"load failed: {loader.errorString()}")
    try:
        ui_root = ET.parse(ui_path).getroot()
    except ET.ParseError as error:
        problems.append(f"not well-formed XML: {error}")
    if root is None or problems:
        return problems

    declared = {c.findtext("class") for c in ui_root.iter("customwidget")}
    for text in messages:
        if match := UNDECLARED_CLASS.search(text):
            problems.append(f"widget class {match[1]} not declared in <customwidgets>, dropped: {text}")
        if (match := FALLBACK_CLASS.search(text)) and match[1] not in declared:
            problems.append(f"custom widget class {match[1]} not declared in <customwidgets>: {text}")

    for element in ui_root.iter("widget"):
        name, widget_class = element.get("name", ""), element.get("class")
        widget = root if root.objectName() == name else root.findChild(QWidget, name)
        if widget is None:
            problems.append(f"{widget_class} {name!r} is not in the loaded widget tree")
            continue
        for prop_name in (*KEPT_PROPERTIES["*"], *KEPT_PROPERTIES.get(widget_class or "", ())):
            prop = xml_property(element, prop_name)
            if prop is not None and (found := widget.property(prop_name)) != xml_value(prop):
                problems.append(f"{name}: property {prop_name} is {found!r}, not {xml_value(prop)!r}")
    return problems


def main(ui_paths: list[str]) -> None:
    """Print ``{path: {"problems": [...], "messages": [...]}}`` as one JSON line."""
    from PySide6.QtCore import QMessageLogContext, QtMsgType, qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    messages: list[str] = []

    def collect(_mode: QtMsgType, _context: QMessageLogContext, text: str) -> None:
        messages.append(text)

    qInstallMessageHandler(collect)
    app = QApplication([])
    report = {}
    for path in ui_paths:
        problems = check_ui(Path(path), messages)
        report[path] = {"problems": problems, "messages": list(messages)}
    app.shutdown()
    print(json.dumps(report))


def run_checker(*ui_paths: Path) -> dict[str, dict[str, list[str]]]:
    """Run this file as a script on ``ui_paths`` and return its report, keyed by path."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    command = [sys.executable, __file__, *map(str, ui_paths)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"checker exited with {done.returncode}:\n{done.stderr}"
    return json.loads(done.stdout.splitlines()[-1])


def test_module_ui_loads_with_every_widget_and_binding():
    report = run_checker(UI_FILE)[str(UI_FILE)]
    assert report["problems"] == [], "\n".join(report["problems"] + ["Qt messages:", *report["messages"]])
    # The fallback warnings prove the custom classes went through the loader at all.
    assert any(FALLBACK_CLASS.search(text) for text in report["messages"])


def test_checker_reports_undeclared_class_and_unreadable_file(tmp_path: Path):
    tree = ET.parse(UI_FILE)
    first_layout = next(tree.getroot().iter("layout"))
    bogus_item = ET.Element("item")
    ET.SubElement(bogus_item, "widget", {"class": "qMRMLPlotView", "name": "bogus"})
    first_layout.insert(0, bogus_item)
    undeclared = tmp_path / "undeclared.ui"
    tree.write(undeclared, encoding="UTF-8", xml_declaration=True)
    text = UI_FILE.read_text(encoding="utf-8")
    malformed = tmp_path / "malformed.ui"
    malformed.write_text(text[: len(text) // 2], encoding="utf-8")

    report = run_checker(undeclared, malformed)

    problems = report[str(undeclared)]["problems"]
    assert any("qMRMLPlotView not declared" in p for p in problems), problems
    assert any("'bogus' is not in the loaded widget tree" in p for p in problems), problems
    assert len(problems) == 2, problems
    problems = report[str(malformed)]["problems"]
    assert any(p.startswith("load failed: ") and "Premature end of document" in p for p in problems), problems


if __name__ == "__main__":
    main(sys.argv[1:])
