"""The fields schema: custom field names a source may carry (others are dropped at forwarding)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from api.context import Ctx
from api.schemas import FieldRequest

router = APIRouter(tags=["fields"])


@router.get("/fields")
def list_fields(context: Ctx) -> dict[str, Any]:
    return {"data": [field.to_json() for field in context.fields.all()]}


@router.post("/fields")
def create_field(context: Ctx, body: FieldRequest) -> dict[str, Any]:
    return context.fields.create(body.fieldName).to_json()


@router.get("/fields/{field_id}")
def get_field(context: Ctx, field_id: str) -> dict[str, Any]:
    return context.fields.get(field_id).to_json()


@router.delete("/fields/{field_id}", status_code=204)
def delete_field(context: Ctx, field_id: str) -> Response:
    context.fields.delete(field_id)
    return Response(status_code=204)
