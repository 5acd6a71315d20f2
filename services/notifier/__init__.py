"""The notifier: turns shortlists into alert emails (immediate, amendment, cancellation, daily digest), exactly
once per (supplier, notice, version, kind), in English or Simplified Chinese, with RFC 8058 one-click unsubscribe.

Layout: ``domain/`` (pure rules, email building, reasons, pages, tokens), ``ports.py`` (one Protocol per port),
``adapters/`` (SMTP, Elasticsearch, Kafka profile feed, matcher HTTP client, code lists; the in-memory fakes in
``memory.py``), the use cases (``delivery.py`` shared by ``alerts.py``, ``digests.py`` and ``confirmations.py``;
``subscriptions.py``) held together by ``service.py``, ``entrypoints/`` (Kafka worker, HTTP app, CLI),
``bootstrap.py`` (wiring, production and in memory).
"""
