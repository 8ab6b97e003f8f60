"""Numerically exact quantum references for the stochastic models (issue #6: Landau–Zener)."""
from .lz_quantum import (Drive, ExactLZ, characteristic_function, drive_from_spec, exact_lz,
                         full_grand_potential, propagate, tpm_work_distribution, write_exact)

__all__ = ["Drive", "ExactLZ", "characteristic_function", "drive_from_spec", "exact_lz",
           "full_grand_potential", "propagate", "tpm_work_distribution", "write_exact"]
