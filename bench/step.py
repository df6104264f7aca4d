"""The main module of a benchmark's step process (`benchlib.run_step`): runs the step of the script named first.

Every worker process of a sweep, started by multiprocessing's fork server, first runs its parent's main module
again (as `__mp_main__`). Under `auditor sweep` that is the few lines of the `auditor` command (under a
millisecond); a benchmark script as the main module costs each worker about 5 ms more (its imports: benchlib,
argparse, subprocess, ...), which no user pays. With this file as the main module, the workers run only these
lines again, so a step measures the sweep as the command runs it.
"""

if __name__ == "__main__":
    import importlib
    import sys
    from pathlib import Path

    script = Path(sys.argv[1])
    sys.path.insert(0, str(script.parent))
    sys.exit(importlib.import_module(script.stem).main(sys.argv[2:]))
