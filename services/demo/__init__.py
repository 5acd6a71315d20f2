"""Demo data the project generates itself: seeded, realistic supplier profiles and tender notices.

    python -m services.demo write --out .data/demo --suppliers 300 --notices 200

``generate_suppliers`` and ``generate_notices`` (in ``services.demo.data``) return contract models; ``write``
stores them as JSON Lines, one model per line.
"""

from services.demo.data import generate_notices, generate_suppliers

__all__ = ["generate_notices", "generate_suppliers"]
