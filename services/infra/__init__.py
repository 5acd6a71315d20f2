"""The small infrastructure every service shares: settings base, Kafka bus, logging, HTTP helpers, the one port
check (``net``) and the dead-letter tool. Nothing here knows about tenders; the local stack and the demo harness
live in ``localrun``."""
