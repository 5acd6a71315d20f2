"""The matcher service: supplier profiles in Elasticsearch, notices matched into explained shortlists, the buyer
API. ``domain/`` scores (pure), ``adapters/`` talk to Elasticsearch, ``service.py`` is the application layer,
``entrypoints/`` hold the Kafka worker, the HTTP app and the CLI; ``bootstrap()`` wires them."""
