"""Routes the gateway answers itself: the dev token (dev only)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from shared.auth import issue_token
from shared.settings import get_settings

router = APIRouter(prefix="/api/v1")
dev_router = APIRouter(prefix="/api/v1", tags=["dev"])


class DevTokenRequest(BaseModel):
    sub: str = Field(min_length=1, max_length=200)
    roles: list[str] = Field(default_factory=lambda: ["applicant"])
    name: str | None = None


class DevTokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


@dev_router.post("/auth/dev-token", response_model=DevTokenResponse)
async def dev_token(body: DevTokenRequest) -> DevTokenResponse:
    """A token for any subject and roles. Exists only when ONESTOP_ENV=dev."""
    ttl = 8 * 3600
    return DevTokenResponse(access_token=issue_token(get_settings(), body.sub, body.roles, name=body.name,
                                                     ttl_seconds=ttl), expires_in=ttl)
