"""The staff pages of the governance service: sign in, triage, assign, update, moderate, communities."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
