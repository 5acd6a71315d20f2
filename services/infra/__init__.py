"""The small infrastructure every service shares: settings base, Kafka bus, logging, HTTP helpers and the local
stack used for development and tests. Nothing here knows about tenders."""
