from sqlmodel import SQLModel

import services.registration.models  # noqa: F401 - registers the tables
from shared.migrations import run_env

run_env(SQLModel.metadata, "registration")
