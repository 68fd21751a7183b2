"""A plan being edited: what it was computed from, the plan itself, and edits that never leave it
half-changed.

Every edit (``edits.py``) changes the plan in place; :meth:`PlanSession.edit` keeps a copy and
puts it back when the edit raises ValueError (a size the catalogue does not have, an unknown
stent), so a refused edit leaves the plan exactly as it was. The Slicer module, the tests and
scripts use one session per plan; ``scene.plan_editor.ScenePlan`` adds the nodes that show it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..inputs.ivus import IvusMeasurements
from ..names import Template
from . import edits
from .datatypes import Plan
from .sizing import PlanContext


@dataclass(frozen=True)
class StentRow:
    """What the panel's stent editor shows of one stent: its product and size, and the choices."""

    id: str
    product_id: str
    product: str
    diameter_mm: float
    length_mm: float
    diameters_mm: tuple[float, ...]  # of its product
    lengths_mm: tuple[float, ...]  # of its product at its diameter
    products: tuple[str, ...]  # ids of every product with sizes in the catalogue


@dataclass
class PlanSession:
    context: PlanContext
    plan: Plan

    def edit(self, change: Callable[[PlanContext, Plan], Plan]) -> Plan:
        """Apply ``change(context, plan)``; on ValueError the plan is restored and it re-raises."""
        before = copy.deepcopy(self.plan)
        try:
            self.plan = change(self.context, self.plan)
        except ValueError:
            self.plan = before
            raise
        return self.plan

    def change_stent(
        self,
        stent_id: str,
        product_id: str | None = None,
        diameter_mm: float | None = None,
        length_mm: float | None = None,
    ) -> Plan:
        """Another product or size for a stent (None keeps what it has); only catalogue sizes."""
        stent = self.plan.stent(stent_id)
        product_id = product_id or stent.product_id
        diameter = stent.diameter_mm if diameter_mm is None else float(diameter_mm)
        length = stent.length_mm if length_mm is None else float(length_mm)
        return self.edit(
            lambda ctx, plan: edits.change_stent(ctx, plan, stent_id, product_id, diameter, length)
        )

    def move_end_to(self, stent_id: str, end: str, position_ras: Sequence[float]) -> Plan:
        """Move a stent end to the point of its vein's axis nearest ``position_ras``."""
        return self.edit(lambda ctx, plan: edits.move_end_to(ctx, plan, stent_id, end, position_ras))

    def remove_stent(self, stent_id: str) -> Plan:
        return self.edit(lambda ctx, plan: edits.remove_stent(ctx, plan, stent_id))

    def switch_template(self, template: str | Template) -> Plan:
        return self.edit(lambda ctx, plan: edits.switch_template(ctx, plan, template))

    def set_ivus(self, ivus: IvusMeasurements | None) -> Plan:
        """Size from these IVUS measurements (None: from the CT alone) and plan again with the
        same construct (plan/ivus.py ``set_ivus``)."""
        from . import ivus as ivus_edits

        return self.edit(lambda ctx, plan: ivus_edits.set_ivus(ctx, plan, ivus))

    def stent_rows(self) -> list[StentRow]:
        """One row per stent, in plan order, for a stent editor."""
        catalog = self.context.catalog
        usable = tuple(p.id for p in catalog.usable())
        rows = []
        for stent in self.plan.stents:
            product = catalog.products[stent.product_id]
            rows.append(
                StentRow(
                    id=stent.id,
                    product_id=stent.product_id,
                    product=stent.product,
                    diameter_mm=stent.diameter_mm,
                    length_mm=stent.length_mm,
                    diameters_mm=tuple(product.diameters_mm),
                    lengths_mm=tuple(product.sizes.get(stent.diameter_mm, ())),
                    products=usable,
                )
            )
        return rows
