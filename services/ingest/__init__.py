"""Ingest: public procurement notices from OCDS, TED, UNGM, CSV, JSON Lines and HTTP push, normalized into
``TenderNotice`` versions on ``tenders.notices``; anything that cannot become a notice goes to
``tenders.notices.dlq`` with its reason and raw payload."""
