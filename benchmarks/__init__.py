"""kanlab's benchmark scripts: a package, run from the repository root against the installed kanlab
(``pip install -e ".[bench]"``; ``make bench-*`` does that first)::

    python -m benchmarks.toy_functions      # the KAN paper's toy functions, kanlab vs pykan 0.2.8 (BENCHMARKS.md)
    python -m benchmarks.symbolic           # formula recovery, kanlab vs pykan 0.2.8 (BENCHMARKS.md)
    python -m benchmarks.seeds              # reliability over seeds 0-9 on the toy functions, vs pykan (BENCHMARKS.md)
    python -m benchmarks.pykan_workflows    # pykan's tutorial workflows, one code on pykan 0.2.8 and kanlab (BENCHMARKS.md)
    python -m benchmarks.pykan_docstrings   # the examples in pykan 0.2.8's MultKAN docstrings, on both (BENCHMARKS.md)
    OMP_NUM_THREADS=1 python -m benchmarks.estimators   # KANRegressor/KANClassifier defaults vs scikit-learn (BENCHMARKS.md)
    python -m benchmarks.speed              # training/inference speed and memory vs pykan, inkan, an MLP (BENCHMARKS.md)
    python -m benchmarks.workflow           # small-network fit, grid schedules, auto_symbolic, one closure vs pykan (BENCHMARKS.md)
    python -m benchmarks.fused_probe        # one small-network closure against a C++ floor (needs a C++ compiler; BENCHMARKS.md)
    python -m benchmarks.bases --quick      # the basis families on toy and special functions (BENCHMARKS.md)
    python -m benchmarks.distributed        # data-parallel fit and DDP module, 1 vs 2 processes (BENCHMARKS.md)
    python -m benchmarks.trust_audit        # the silent-wrong-result cases, measured (prints only)
    python -m benchmarks.eager_step         # per-step cost of the default path (prints only)
    OMP_NUM_THREADS=1 python -m benchmarks.claims_functions   # CLAIMS.md claims 1, 2, 3, 7a (functions)
    OMP_NUM_THREADS=1 python -m benchmarks.claims_pde         # CLAIMS.md claim 4 (Poisson PINN)
    OMP_NUM_THREADS=1 python -m benchmarks.claims_tabular     # CLAIMS.md claims 5, 6 (tabular, MNIST)
    OMP_NUM_THREADS=1 python -m benchmarks.claims_timeseries  # CLAIMS.md claim 9 (UCR time series)

Each takes ``--help``; the claims scripts take ``--quick --out ''`` for a short printed-only run.
``common`` holds their shared pieces (markdown sections, parameter-matched MLPs, machine line).
Scripts that import ``common`` need ``-m`` (``python benchmarks/X.py`` cannot resolve the package).
The check of a recovered formula against the true law is library code:
:func:`kanlab.recovery.check_recovery`.
"""
