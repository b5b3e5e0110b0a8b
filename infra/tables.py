"""One DynamoDB table per PynamoDB model in ALL_MODELS, read from the model itself.

The keys and indexes come from `Model._get_schema()`, the same description PynamoDB's
`create_table` sends (so the local stack and AWS get the same tables); the TTL attribute
is the model's TTLAttribute. Table names follow models.table_name(): the stage's
TABLE_PREFIX, then the table's logical name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynamodb.attributes import TTLAttribute
from pynamodb.models import Model


@dataclass(frozen=True)
class Key:
    name: str
    type: str  # "S", "N" or "B"


@dataclass(frozen=True)
class Index:
    name: str
    partition: Key | None  # None for a local index: the table's partition key
    sort: Key | None
    projection: str  # "ALL", "KEYS_ONLY" or "INCLUDE"
    non_key_attributes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Table:
    logical: str  # "cards": the name without the stage's prefix
    name: str  # "sscard-prod-cards"
    model: type[Model]
    partition: Key
    sort: Key | None
    global_indexes: tuple[Index, ...]
    local_indexes: tuple[Index, ...]
    ttl_attribute: str | None

    @property
    def construct_id(self) -> str:
        return "".join(part.capitalize() for part in self.logical.replace("_", "-").split("-")) + "Table"


def current_prefix() -> str:
    from chalicelib.storage.models import table_name

    return table_name("")


def logical_name(model: type[Model], prefix: str | None = None) -> str:
    prefix = current_prefix() if prefix is None else prefix
    name: str = model.Meta.table_name
    if not name.startswith(prefix):
        raise ValueError(f"{model.__name__}'s table {name!r} does not start with TABLE_PREFIX {prefix!r}")
    return name[len(prefix) :]


def ttl_attribute(model: type[Model]) -> str | None:
    """The model's TTLAttribute (PynamoDB allows one per model, as DynamoDB does)."""
    return next(
        (attr.attr_name for attr in model.get_attributes().values() if isinstance(attr, TTLAttribute)), None
    )


def _keys(key_schema: list[dict[str, Any]], types: dict[str, str]) -> tuple[Key | None, Key | None]:
    partition = sort = None
    for element in key_schema:
        key = Key(element["AttributeName"], types[element["AttributeName"]])
        if element["KeyType"] == "HASH":
            partition = key
        else:
            sort = key
    return partition, sort


def _index(schema: dict[str, Any], types: dict[str, str]) -> Index:
    types = types | {d["AttributeName"]: d["AttributeType"] for d in schema.get("attribute_definitions", [])}
    partition, sort = _keys(schema["key_schema"], types)
    projection = schema["projection"]
    return Index(
        name=schema["index_name"],
        partition=partition,
        sort=sort,
        projection=projection["ProjectionType"],
        non_key_attributes=tuple(projection.get("NonKeyAttributes") or ()),
    )


def table_of(model: type[Model], prefix: str | None = None) -> Table:
    schema: dict[str, Any] = dict(model._get_schema())
    types = {d["AttributeName"]: d["AttributeType"] for d in schema["attribute_definitions"]}
    partition, sort = _keys(schema["key_schema"], types)
    if partition is None:
        raise ValueError(f"{model.__name__} has no hash key")
    return Table(
        logical=logical_name(model, prefix),
        name=model.Meta.table_name,
        model=model,
        partition=partition,
        sort=sort,
        global_indexes=tuple(_index(i, types) for i in schema["global_secondary_indexes"]),
        local_indexes=tuple(_index(i, types) for i in schema["local_secondary_indexes"]),
        ttl_attribute=ttl_attribute(model),
    )


def all_tables() -> list[Table]:
    from chalicelib.storage.models import ALL_MODELS

    tables = [table_of(model) for model in ALL_MODELS]
    names = [t.name for t in tables]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"Two models share the tables {sorted(duplicates)}")
    return tables
