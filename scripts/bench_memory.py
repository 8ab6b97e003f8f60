"""Benchmark: peak memory of a run does not grow with the number of trajectories.

Each size runs in a fresh process (mcthermo.sample with an output directory, as a user would) and
reports its peak resident set size; the accumulators are count histograms, so memory is bounded by
the histogram and the chunk size, not by the trajectory count.

    python scripts/bench_memory.py [--sizes 1e6,1e7,1e8] [--steps 20]
"""
import argparse
import json
import subprocess
import sys
import tempfile

CHILD = """
import json, resource, sys, time
import mcthermo as mt
spec = mt.Staircase(steps={steps})
mt.sample(spec, 1000, 0)                          # compile / load the kernel cache first
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
mt.sample(spec, {trajectories}, 1, reverse=True, out=sys.argv[1])
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"baseline_mib": baseline / 1024, "peak_mib": peak / 1024, "seconds": elapsed}}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e6,1e7,1e8")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    print(f"staircase N={args.steps}, forward + reverse")
    print(f"{'trajectories':>14}{'peak RSS (MiB)':>16}{'after compile':>15}{'seconds':>10}{'steps/s':>10}")
    for size in (int(float(s)) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as out:
            code = CHILD.format(steps=args.steps, trajectories=size)
            result = json.loads(subprocess.run([sys.executable, "-c", code, out], check=True,
                                               capture_output=True, text=True).stdout)
        steps = 2 * size * (args.steps + 1) / result["seconds"]
        print(f"{size:>14.0e}{result['peak_mib']:>16.1f}{result['baseline_mib']:>15.1f}"
              f"{result['seconds']:>10.2f}{steps:>10.3g}")


if __name__ == "__main__":
    main()
