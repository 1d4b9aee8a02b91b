"""The residents' pages of the governance service: report a problem, confirm it, follow it."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
