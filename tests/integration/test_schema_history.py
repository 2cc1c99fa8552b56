"""Released migrations cannot drift: the schema helpers they call are frozen (their source is pinned here),
those helpers reach nothing that may change, and revisions import nothing but frozen code."""

from __future__ import annotations

import ast
import hashlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shared import registry, schema_history

# sha256 of ``inspect.getsource`` of every helper in shared.schema_history. A new helper gets its line here
# when it is written; a line never changes and is never removed.
FROZEN: dict[str, str] = {
    "timestamp_column_v1": "e235a9b22527be5b6f8a165d21b216df789960c9b01d34107f233d43085b44c1",
    "create_common_tables_v1": "37b0fa1188e98a9606e69850934fabc0d6bbfe7dcf5bfbadd3d769262d3ce8da",
    "drop_common_tables_v1": "881e8503575274f49ee541cc0e7797e73079699d32e87d14c960ca571e853348",
    "form_version_column_v1": "95bb244c66e2bea5d6744c3fad71501dd334ef56b305d8008ecf5f6906f54ede",
    "application_columns_v1": "d05bcca6219f4e376f7e8b7bb73ab68f0afa33835d1addcf317efedb2b4cad63",
    "add_form_version_v1": "4d571fbbfdbcdac57b6e845b8125d867e48ad7875233ac5b28eb303daac96c21",
    "enterprise_view_columns_v1": "f7227ff88bc0c4c39d1f6a1722f5e620966fef102c5daa97bbc7e015f6314b0f",
    "drop_form_version_v1": "536b72d3ce8b13fffa6f67013dafde0d2ace8ea8733398549669114a8b4eb3eb",
    "create_dead_letter_table_v1": "e8e26bb8c278cff27b7c420e493d1940ad9bbd9764bf4807c08c151d09cab9fe",
    "drop_dead_letter_table_v1": "271b668d939369d040113789fbcda808380d3ca004b9f34ccd44a66a42197ca6",
    "create_escalation_table_v1": "aa5285fbd87a30a42b92a3a4f7890e0a320f5aaf8922445286f9232565801296",
    "drop_escalation_table_v1": "45d0d59c6244e3774f13f845624d7a3f0c725c7b96a55a151efead266d5a77af",
}

# sha256 of released revision files (path under services/, newlines normalised). A revision is added here
# once it has shipped; from then on a database somewhere has run it.
RELEASED_REVISIONS: dict[str, str] = {
    "registration/migrations/versions/0001_initial.py":
        "18ac8c8dc246fb8c93e5bd51eead912cf2a1698f62fb58652211fff42e7bc198",
    "registration/migrations/versions/0002_form_version.py":
        "bc0c5b70c23bca3eabee98bc67a6d49c79251ae93a362c6c60480b8725b1a253",
    "deregistration/migrations/versions/0001_initial.py":
        "e60473dbaf7694b9cc412cd7fbdd42913b948d1c6bc8791f0549a8148defa94e",
    "deregistration/migrations/versions/0002_form_version.py":
        "a56c9240579985e26531c88a0442c4cee75d8e62d0332c807fd11da7570c5aab",
}

# What a revision may import: the migration and SQL libraries, and the frozen helpers. Anything else in this
# repository (models, shared.migrations, settings) may change after the revision has run somewhere.
REVISION_IMPORTS = ("__future__", "alembic", "sqlalchemy", "shared.schema_history")

WHAT_TO_DO = ("Released revisions call it, so a database migrated before this edit and one migrated after it "
              "would differ. Restore it as it was, and put the change in a new helper (`<name>_v2`) called by "
              "a new revision in every service, with the matching change to shared.records.")


def sha256(text: str) -> str:
    """The digest of a source text, with newlines normalised so a checkout's line endings do not count."""
    return hashlib.sha256("\n".join(text.splitlines()).encode()).hexdigest()


def helpers() -> dict[str, Callable[..., Any]]:
    """The functions defined in shared.schema_history."""
    return {name: fn for name, fn in vars(schema_history).items()
            if inspect.isfunction(fn) and fn.__module__ == schema_history.__name__}


def revision_files() -> list[Path]:
    """Every revision of every service that owns a database."""
    return sorted(p for spec in registry.with_database() for p in (spec.migrations_dir / "versions").glob("*.py"))


@pytest.mark.parametrize("name", sorted(FROZEN))
def test_frozen_helpers_are_unchanged(name: str) -> None:
    fn = helpers().get(name)
    assert fn is not None, f"shared.schema_history.{name} was removed. {WHAT_TO_DO}"
    assert sha256(inspect.getsource(fn)) == FROZEN[name], f"shared.schema_history.{name} was edited. {WHAT_TO_DO}"


def test_every_helper_is_pinned() -> None:
    unpinned = sorted(set(helpers()) - set(FROZEN))
    assert not unpinned, (
        f"{unpinned} in shared.schema_history are not pinned: add each with "
        f"sha256(inspect.getsource(fn)) to FROZEN in {Path(__file__).name}, so it is frozen from now on.")


@pytest.mark.parametrize("name", sorted(FROZEN))
def test_frozen_helpers_reach_only_frozen_code(name: str) -> None:
    # A frozen helper calling a living function (a model, a constant of another module) would change with it.
    allowed = {"sa", "op", *FROZEN}
    reached = set(inspect.getclosurevars(helpers()[name]).globals)
    assert reached <= allowed, (f"shared.schema_history.{name} uses {sorted(reached - allowed)}; a frozen helper "
                                "may use only sqlalchemy (sa), alembic's op and other frozen helpers.")


@pytest.mark.parametrize("path", revision_files(), ids=lambda p: f"{p.parent.parent.parent.name}/{p.name}")
def test_revisions_import_only_frozen_code(path: Path) -> None:
    imported: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    living = sorted(m for m in imported if not any(m == a or m.startswith(a + ".") for a in REVISION_IMPORTS))
    assert not living, (f"{path} imports {living}, which may change after the revision has run somewhere. "
                        "Call a frozen helper of shared.schema_history (write a new `_vN` one) or spell the "
                        "schema out in the revision.")


@pytest.mark.parametrize("relative", sorted(RELEASED_REVISIONS))
def test_released_revisions_are_unchanged(relative: str) -> None:
    path = registry.ROOT / "services" / relative
    assert path.exists(), f"released revision {relative} was removed; databases record it as applied"
    assert sha256(path.read_text()) == RELEASED_REVISIONS[relative], (
        f"released revision {relative} was edited: databases that ran it keep the schema it made before. "
        "Restore it, and write the change as a new revision.")
