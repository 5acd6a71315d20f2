"""I/O adapters of the matcher: Elasticsearch stores (``elastic``) and their in-memory fakes (``memory``)."""
