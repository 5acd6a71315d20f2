"""Entry points of the matcher: the Kafka notice worker, the HTTP app and the CLI."""
