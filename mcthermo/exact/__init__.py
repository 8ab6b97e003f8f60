"""Numerically exact quantum references for the stochastic models (issue #6: Landau–Zener).

lz_propagator: the one-body propagator U(t) and p(t); lz_tpm: two-point-measurement work
statistics; lz_comparison: the reference of a LandauZener spec next to the stochastic model;
golden_rule: its continuous-time (Fermi golden rule) limit, exact moments and Gillespie paths;
tilted: the tilted generator of open systems; strokes_dp: exact laws of stroke protocols.
"""
from .lz_comparison import ExactLZ, exact_lz, round_trip, write_exact
from .lz_propagator import Drive, drive_from_spec, propagate
from .lz_tpm import characteristic_function, full_grand_potential, tpm_work_distribution

__all__ = ["Drive", "ExactLZ", "characteristic_function", "drive_from_spec", "exact_lz",
           "full_grand_potential", "propagate", "round_trip", "tpm_work_distribution", "write_exact"]
