"""Credit-bank administration of what standards count in: terms (for `max_per_term` caps) and
course categories. Included into the credit bank's router (bank_routes.py).

    GET  /terms, GET /categories[?all=true]                                 admin, operator
    POST /terms, PATCH /terms/{id}, DELETE /terms/{id}                      admin
    POST /categories, PATCH /categories/{code}  (rename, retire, restore)   admin
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from server_hub.api.auth import ADMIN, PEOPLE, require
from server_hub.creditbank import categories
from server_hub.creditbank import terms as bank_terms

router = APIRouter(tags=["credit bank"])
_DAY = r"^\d{4}-\d{2}-\d{2}$"


class TermIn(BaseModel):
    id: str = Field(min_length=1, max_length=32, description="e.g. 2026-spring")
    name: str = Field(min_length=1, max_length=200)
    first_day: str = Field(pattern=_DAY, description="local date, included")
    last_day: str = Field(pattern=_DAY, description="local date, included")


class TermPatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    first_day: str | None = Field(None, pattern=_DAY)
    last_day: str | None = Field(None, pattern=_DAY)


class CategoryIn(BaseModel):
    code: str = Field(pattern=categories.CODE_PATTERN)
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)


class CategoryPatch(BaseModel):
    name_zh: str | None = Field(None, min_length=1, max_length=200)
    name_en: str | None = Field(None, min_length=1, max_length=200)
    active: bool | None = Field(None, description="false retires the category, true restores")


@router.get("/terms")
def list_terms(request: Request, who=Depends(require(*PEOPLE))):
    """Terms (named local date ranges, both days included) that `max_per_term` caps count in."""
    return bank_terms.listing(request.app.state.hub.store)


@router.post("/terms", status_code=201)
def add_term(body: TermIn, request: Request, who=Depends(require(ADMIN))):
    """Add a term; 409 if it shares a day with another. Sessions of term-capped activities
    on its days are re-decided (differences as explicit ledger entries)."""
    return bank_terms.add(request.app.state.hub.registry, body.id, body.name, body.first_day,
                          body.last_day, who["name"])


@router.patch("/terms/{term_id}")
def set_term(term_id: str, body: TermPatch, request: Request, who=Depends(require(ADMIN))):
    """Rename and/or move a term (the changed days are re-decided)."""
    return bank_terms.update(request.app.state.hub.registry, term_id, who["name"],
                             name=body.name, first_day=body.first_day, last_day=body.last_day)


@router.delete("/terms/{term_id}")
def remove_term(term_id: str, request: Request, who=Depends(require(ADMIN))):
    return bank_terms.remove(request.app.state.hub.registry, term_id, who["name"])


@router.get("/categories")
def list_categories(request: Request, all: bool = False, who=Depends(require(*PEOPLE))):
    """Course categories (active ones; `all=true` includes retired ones)."""
    return categories.listing(request.app.state.hub.store, include_retired=all)


@router.post("/categories", status_code=201)
def add_category(body: CategoryIn, request: Request, who=Depends(require(ADMIN))):
    return categories.add(request.app.state.hub.store, body.code, body.name_zh, body.name_en,
                          who["name"])


@router.patch("/categories/{code}")
def set_category(code: str, body: CategoryPatch, request: Request,
                 who=Depends(require(ADMIN))):
    """Rename, retire (`"active": false`: kept by the activities that have it, not given to
    others) or restore a category."""
    return categories.update(request.app.state.hub.store, code, who["name"],
                             name_zh=body.name_zh, name_en=body.name_en, active=body.active)
