"""KappaTune: condition-number selective fine-tuning (arXiv 2506.16289).

Pure functions first (:mod:`condition`: exact values; :mod:`bounds`: certified lower bounds; :mod:`scan`: over a
model, and the selection that needs exact values only near its cut; :mod:`select`), then the config fields and the
trainer mixin that every infopo trainer carries.
"""

from infopo.kappa.bounds import kappa_lower_bounds
from infopo.kappa.condition import condition_number, condition_numbers
from infopo.kappa.scan import KappaSelection, eligible_parameters, scan_condition_numbers, select_lowest_condition
from infopo.kappa.select import apply_selection, export_unfrozen_yaml, load_unfrozen_yaml, select_by_condition

__all__ = [
    "KappaSelection",
    "apply_selection",
    "condition_number",
    "condition_numbers",
    "eligible_parameters",
    "export_unfrozen_yaml",
    "kappa_lower_bounds",
    "load_unfrozen_yaml",
    "scan_condition_numbers",
    "select_by_condition",
    "select_lowest_condition",
]
