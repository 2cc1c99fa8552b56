"""``python -m shared.serve <service>``: serve any declared service (``shared.registry``) with uvicorn."""

from __future__ import annotations

import sys

from shared.service import run_service

if __name__ == "__main__":
    run_service(sys.argv[1])
