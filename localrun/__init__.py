"""The local-run and demo harness: tenderbridge on one machine without Docker. Not a service: it starts the
services as an operator would (child processes, settings in the environment) and imports none of their internals
beyond their settings.

    python -m localrun run           # `make run`: local stack + three services + demo data, Ctrl-C stops
    python -m localrun demo          # `make demo`: a bounded end-to-end run that prints a JSON summary
    python -m localrun.stack up      # `make stack-up` / `stack-down` / `stack-status`: the local servers alone
    python -m localrun.demodata write --out DIR --suppliers N --notices N   # seeded demo data as JSON Lines

Modules: ``stack`` (noida-db + SMTP sink, child processes and signals), ``pipeline`` (the three services wired to
one stack), ``run`` (``make run``), ``demo`` (``make demo``, also driven by the e2e tests and ``bench.soak``),
``demodata`` (the seeded generator).
"""
