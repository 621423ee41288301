"""minicnn against PyTorch the way users run it: every import order, an idle and a busy machine.

    python benchmarks/bench_scenarios.py [--arch small vgg]

Runs benchmarks/bench_nets.py in a fresh process for each scenario (the import order can only
be chosen before the first import) and prints one table of the ratios minicnn / PyTorch:

* user order   a script that imports NumPy, OpenCV and PyTorch, then minicnn;
* minicnn first minicnn imported before anything else;
* busy         the user order with one other CPU-bound process running all along;
* AVX2 cap     the user order with every library held to 256-bit vectors (AVX2), as on a CPU without
               AVX-512, so that one machine with AVX-512 measures both kinds of CPU.
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# Each library reads its own variable when it loads, hence a fresh process per scenario.
AVX2_ONLY = {"NUMBA_CPU_NAME": "haswell", "OPENBLAS_CORETYPE": "Haswell", "ONEDNN_MAX_CPU_ISA": "AVX2",
             "ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}   # MKL: PyTorch's matrix products
SCENARIOS = [("user order, idle", [], {}), ("minicnn first, idle", ["--minicnn-first"], {}),
             ("user order, 1 busy process", ["--busy", "1"], {}), ("user order, AVX2 cap", [], AVX2_ONLY)]


def ratios(output):
    """{(net, metric): ratio} from bench_nets.py's table."""
    found = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[0] in ("small", "vgg", "tiny"):
            found[(parts[0], " ".join(parts[1:-3]))] = float(parts[-1])
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", nargs="+", default=["small", "vgg"])
    args = parser.parse_args(argv)
    results = {}
    for name, extra, env in SCENARIOS:
        run = subprocess.run([sys.executable, os.path.join(HERE, "bench_nets.py"), "--arch", *args.arch, *extra],
                             capture_output=True, text=True, env={**os.environ, **env})
        if run.returncode != 0:
            sys.exit(f"bench_nets.py {' '.join(extra)} failed:\n{run.stderr}")
        print(f"--- {name}\n{run.stdout}", flush=True)
        results[name] = ratios(run.stdout)
    rows = list(results[SCENARIOS[0][0]])
    width = max(len(name) for name, _, _ in SCENARIOS)
    print("ratio minicnn / PyTorch (above 1: minicnn is faster; latency: PyTorch's time / minicnn's)")
    print(f"{'net':<7}{'metric':<22}" + "".join(f"{name:>{width + 2}}" for name, _, _ in SCENARIOS))
    for net, metric in rows:
        print(f"{net:<7}{metric:<22}" + "".join(f"{results[name].get((net, metric), float('nan')):>{width + 2}.2f}"
                                                for name, _, _ in SCENARIOS))


if __name__ == "__main__":
    main()
