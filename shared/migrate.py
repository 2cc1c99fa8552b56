"""``python -m shared.migrate [service ...]``: bring each service's database to the newest schema."""

from __future__ import annotations

import os
import sys

from shared import registry
from shared.db import migrate
from shared.settings import Settings


def main(argv: list[str]) -> None:
    services = argv or [s.name for s in registry.with_database()]
    for service in services:
        # Each service may have its own DATABASE_URL in the environment of its own process; here the
        # per-service variable ONESTOP_<SERVICE>_DATABASE_URL wins, then the default file under .data/.
        url = os.environ.get(f"{registry.service(service).env_prefix}_DATABASE_URL")
        settings = Settings(service=service, database_url=url) if url else Settings(service=service)
        migrate(service, settings.db_url)
        print(f"migrated {service}")


if __name__ == "__main__":
    main(sys.argv[1:])
