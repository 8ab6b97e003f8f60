"""A three-level maser between a hot and a cold bath (Scovil--Schulz-DuBois), sampled as a
user-defined open system: heat currents, work, the engine efficiency, their finite-time
distributions and the fluctuation theorem, every number beside its exact value.

Levels |0> (ground), |1>, |2> with energies 0, w_c, w_h.  The hot bath drives 0 <-> 2 (quanta w_h),
the cold bath 0 <-> 1 (quanta w_c); a field of frequency w_h - w_c (resonant) and amplitude Om
couples 1 <-> 2.  The field is written in the LAB frame, Om cos(w t) (|1><2| + |2><1|), piecewise
constant over 8 pieces a period: ``work`` is then the energy the field delivers.  (In the frame
rotating with the field the Hamiltonian would be time independent, but its energy lacks the frame's
own, so its ``work`` would also count the energy stored in the levels: an apparent efficiency 0.82
above the bound 1 - w_c/w_h = 2/3; see README "Frames".)  Heat is energy INTO the system: with the
population inversion between 1 and 2 the maser takes heat from the hot bath, gives heat to the
cold one, and the field takes the difference as work (negative W).

    python scripts/maser.py [--trajectories 100000] [--seed 1] [--out data/maser]
    mcthermo sample scripts/maser.py:system --trajectories 100000 --seed 1 --out data/maser
"""
import argparse

import numpy as np

import mcthermo as mt


def maser(w_hot=3.0, w_cold=1.0, rabi=0.5, gamma_hot=0.1, gamma_cold=0.2, beta_hot=0.2,
          beta_cold=2.0, periods=6, pieces_per_period=8, times=97):
    """The maser as an ``mt.OpenSystem`` built from QuTiP objects (numpy arrays work the same)."""
    import qutip as qt

    ket = [qt.basis(3, k) for k in range(3)]
    bare = qt.Qobj(np.diag([0.0, w_cold, w_hot]))
    field = ket[1] * ket[2].dag() + ket[2] * ket[1].dag()

    def pair(bath, lower, upper, energy, gamma, beta):
        """Emission lower <- upper and absorption, rates in detailed balance at beta."""
        occupation = 1.0 / np.expm1(beta * energy)
        return [mt.Channel(f"{bath}_emit", np.sqrt(gamma * (occupation + 1)) * ket[lower] * ket[upper].dag(),
                           energy, bath),
                mt.Channel(f"{bath}_absorb", np.sqrt(gamma * occupation) * ket[upper] * ket[lower].dag(),
                           -energy, bath)]

    channels = (pair("hot", 0, 2, w_hot, gamma_hot, beta_hot)
                + pair("cold", 0, 1, w_cold, gamma_cold, beta_cold))
    frequency = w_hot - w_cold
    step = 2 * np.pi / frequency / pieces_per_period
    pieces = [mt.Piece(bare + rabi * np.cos(frequency * (k + 0.5) * step) * field, channels, step)
              for k in range(periods * pieces_per_period)]   # the lab-frame field, mid-piece values
    duration = step * len(pieces)
    return mt.OpenSystem(pieces=pieces,
                         baths={"hot": mt.Bath(beta=beta_hot), "cold": mt.Bath(beta=beta_cold)},
                         initial=mt.gibbs_state(np.diag([0.0, w_cold, w_hot]), beta_cold),
                         output_times=np.linspace(0, duration, times),
                         observables={f"p{k}": ket[k] * ket[k].dag() for k in range(3)})


#: the default maser, for ``mcthermo sample scripts/maser.py:system``
system = maser()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    run = mt.sample(system, trajectories=args.trajectories, seed=args.seed, out=args.out)
    summary = run.summary.set_index("observable")
    print("observable            mean (+- stderr)        exact")
    for name in ("heat_hot", "heat_cold", "work", "entropy_production"):
        row = summary.loc[name]
        print(f"{name:<20} {row['mean']:>9.4f} +- {row['stderr']:.4f}   {row['mean_exact']:>9.4f}")
    print(f"mean heat currents over t = {system.total_duration:g}: hot "
          f"{summary.loc['heat_hot', 'mean_exact'] / system.total_duration:.4f}, cold "
          f"{summary.loc['heat_cold', 'mean_exact'] / system.total_duration:.4f} (energy per time into the maser)")
    histogram = run.histogram[run.histogram["observable"] == "heat_hot"]
    top = histogram.nlargest(6, "probability_exact").sort_values("value")
    print("finite-time law of the hot heat (most likely values):")
    print(top[["value", "count", "probability", "probability_exact"]].to_string(index=False))
    checks = run.checks
    efficiency = checks[checks["check"] == "engine_efficiency"].iloc[0]
    print(f"engine efficiency -<W>/<Q_hot> = {efficiency['estimate']:.4f} +- {efficiency['stderr']:.4f}, "
          f"exact {efficiency['expected']:.4f} (bound 1 - w_c/w_h = {1 - 1.0 / 3.0:.4f})")
    print(f"checks: {int(checks['passed'].sum())} of {len(checks)} passed")
    ift = checks[checks["check"] == "integral_ft"].iloc[0]
    print(f"integral FT: -ln<e^-sigma> sampled {ift['estimate']:.4f} +- {ift['stderr']:.4f}, exact "
          f"{ift['expected']:.1e} (tilted generator)")


if __name__ == "__main__":
    main()
