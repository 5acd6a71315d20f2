"""The notifier: turns shortlists into alert emails (immediate, amendment, cancellation, daily digest), exactly
once per (supplier, notice, version, kind), in English or Simplified Chinese, with RFC 8058 one-click unsubscribe.

Layout: ``domain/`` (pure rules, rendering, tokens), ``adapters/`` (SMTP, Elasticsearch, Kafka profile feed, matcher
HTTP client), ``service.py`` (the handlers over the ports), ``entrypoints/`` (Kafka worker, HTTP app, CLI),
``bootstrap.py`` (wiring).
"""
