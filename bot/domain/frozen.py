"""The base of the domain's models: frozen, and copied only with fields they have."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict


class UnknownField(TypeError):
    """A copy named a field the model does not have (pydantic's model_copy would keep it silently)."""

    def __init__(self, model: str, names: list[str]) -> None:
        self.model = model
        self.names = names
        super().__init__(f"{model} has no field {', '.join(names)}")


def check_fields(model: BaseModel, update: Mapping[str, Any]) -> None:
    unknown = sorted(set(update) - set(type(model).model_fields))
    if unknown:
        raise UnknownField(type(model).__name__, unknown)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        # pydantic does not validate an update: a misspelt key would become an attribute nobody reads.
        if update:
            check_fields(self, update)
        return super().model_copy(update=update, deep=deep)
