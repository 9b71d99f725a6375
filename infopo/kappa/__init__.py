"""KappaTune: condition-number selective fine-tuning (arXiv 2506.16289).

Pure functions first (:mod:`condition`, :mod:`scan`, :mod:`select`), then the config fields and the trainer mixin
that every infopo trainer carries.
"""

from infopo.kappa.condition import condition_number, condition_numbers
from infopo.kappa.scan import eligible_parameters, scan_condition_numbers
from infopo.kappa.select import apply_selection, export_unfrozen_yaml, load_unfrozen_yaml, select_by_condition

__all__ = [
    "apply_selection",
    "condition_number",
    "condition_numbers",
    "eligible_parameters",
    "export_unfrozen_yaml",
    "load_unfrozen_yaml",
    "scan_condition_numbers",
    "select_by_condition",
]
