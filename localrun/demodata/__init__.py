"""Demo data the project generates itself: seeded, realistic supplier profiles and tender notices.

    python -m localrun.demodata write --out .data/demo --suppliers 300 --notices 200

``generate_suppliers`` and ``generate_notices`` (in ``localrun.demodata.data``) return contract models; ``write``
stores them as JSON Lines, one model per line.
"""

from localrun.demodata.data import generate_notices, generate_suppliers

__all__ = ["generate_notices", "generate_suppliers"]
