"""The value types the config schema is built from, and the one place pydantic errors become our messages.

The types are "strict enough": a number is a real number or a string that parses as
one (``${ENV}`` expansion yields strings), never a bool, NaN, infinity or something too
large for a float; a bool is only a real YAML ``true``/``false``; a choice is one of
its words (case-insensitive). ``problems(error, ...)`` turns a pydantic
``ValidationError`` into one line per problem, each naming the full key
(``live_trading.paper.fee_bps``), the bad value, what is allowed and where the value
came from, with "did you mean ..." for unknown keys.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, ValidationError
from pydantic_core import PydanticCustomError

#: every model of the schema: unknown keys are errors, defaults are validated too
STRICT = ConfigDict(extra="forbid", validate_default=True, frozen=True)

#: key names whose values are never shown in messages
_SECRET = re.compile(r"key|secret|token|password", re.IGNORECASE)
#: problems a validator found itself (one message each, shown verbatim)
PROBLEMS = "config_problems"


class Section(BaseModel):
    """Base of every config section model."""

    model_config = STRICT


def _number(value: Any) -> Any:
    """Refuse bools and values no float can hold before pydantic parses a number."""
    if isinstance(value, bool):
        raise PydanticCustomError("not_a_number", "a bool is not a number")
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            as_float = float(value)
        except OverflowError:
            raise PydanticCustomError("too_large", "too large for a float") from None
        if not math.isfinite(as_float):
            raise PydanticCustomError("too_large", "too large for a float")
    return value


def _choice(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _str_list(value: Any) -> Any:
    """A comma-separated string (from ``${ENV}``) is a list too."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _stripped(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


#: a finite float (not a bool, not NaN/inf, not a too-large int)
Number = Annotated[float, BeforeValidator(_number), Field(allow_inf_nan=False)]
#: an integer (no bools, no fractions; bounded so it always fits a float)
Integer = Annotated[int, BeforeValidator(_number), Field(strict=False)]
#: only a real YAML ``true`` / ``false``
Bool = StrictBool
#: a non-empty string, surrounding blanks removed
Text = Annotated[str, BeforeValidator(_stripped), Field(min_length=1, strict=True)]
#: a list of non-empty strings (or one comma-separated string)
TextList = Annotated[list[Text], BeforeValidator(_str_list)]


def choice(*words: str) -> Any:
    """A ``Literal`` of ``words``, matched case-insensitively."""
    from typing import Literal

    return Annotated[Literal[words], BeforeValidator(_choice)]  # type: ignore[valid-type]


def problem(messages: Iterable[str]) -> PydanticCustomError:
    """A validation error that carries ready-made problem lines (shown as they are)."""
    lines = list(messages)
    return PydanticCustomError(PROBLEMS, "{lines}", {"lines": "\n".join(lines)})


# --- JSON Schema and messages ----------------------------------------------------
_BOUND_NAMES = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum"}


def standard_schema(node: Any) -> Any:
    """``node`` with pydantic's raw bound names (``ge``, ``lt``, which it emits for fields that
    have a before-validator) renamed to JSON Schema's (``minimum``, ``exclusiveMaximum``)."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in _BOUND_NAMES and isinstance(value, int | float) and not isinstance(value, bool):
                out[_BOUND_NAMES[key]] = value
            elif key == "allow_inf_nan" or key == "strict":
                continue
            else:
                out[key] = standard_schema(value)
        return out
    if isinstance(node, list):
        return [standard_schema(v) for v in node]
    return node


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of ``model`` with standard bound names."""
    return standard_schema(model.model_json_schema())  # type: ignore[no-any-return]


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return root["$defs"][ref.rsplit("/", 1)[-1]]
    return schema


def _property(root: Mapping[str, Any], loc: tuple[Any, ...]) -> Mapping[str, Any] | None:
    """The JSON Schema of the field at ``loc`` (``None`` if there is none)."""
    node: Mapping[str, Any] = root
    for part in loc:
        node = _resolve(node, root)
        options = node.get("anyOf")
        if options:
            node = next((_resolve(o, root) for o in options if o.get("type") != "null"), node)
        props = node.get("properties")
        if isinstance(part, str) and props and part in props:
            node = props[part]
        elif isinstance(part, str) and isinstance(node.get("additionalProperties"), Mapping):
            node = node["additionalProperties"]
        elif isinstance(part, int) and isinstance(node.get("items"), Mapping):
            node = node["items"]
        else:
            return None
    return node


def allowed(prop: Mapping[str, Any], root: Mapping[str, Any]) -> str:
    """What a field accepts, in words: ``a number >= 0``, ``one of a, b``, ``true or false``."""
    if "x-allowed" in prop:
        return str(prop["x-allowed"])
    options = prop.get("anyOf")
    if options:
        kinds = [allowed(_resolve(o, root), root) for o in options if o.get("type") != "null"]
        nullable = any(o.get("type") == "null" for o in options)
        return " or ".join(kinds) + (" (or null)" if nullable else "")
    prop = _resolve(prop, root)
    if "enum" in prop or "const" in prop:
        return "one of " + ", ".join(str(v) for v in prop.get("enum", [prop.get("const")]))
    kind = prop.get("type")
    bounds = [
        f"{op} {prop[name]}"
        for name, op in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<"))
        if name in prop
    ]
    tail = (" " + " and ".join(bounds)) if bounds else ""
    if kind == "number":
        return "a number" + tail
    if kind == "integer":
        return "an integer" + tail
    if kind == "boolean":
        return "true or false"
    if kind == "string":
        return f"a string matching {prop['pattern']}" if "pattern" in prop else "a non-empty string"
    if kind == "array":
        return "a list of strings" + (f" (at least {prop['minItems']})" if prop.get("minItems") else "")
    if kind == "object":
        return "a mapping"
    return "a valid value"


def _short(value: Any) -> str:
    text = repr(value) if not (isinstance(value, int) and abs(value) > 10**30) else f"a {len(str(value))}-digit integer"
    return text if len(text) <= 80 else text[:77] + "..."


def secret_like(name: str) -> bool:
    """Whether a key's name marks a secret (``*key*``, ``*secret*``, ``*token*``, ``*password*``)."""
    return bool(_SECRET.search(name))


def _join(*parts: Any) -> str:
    return ".".join(str(p) for p in parts if p != "")


def problems(
    error: ValidationError,
    model: type[BaseModel],
    prefix: str,
    source: Callable[[tuple[Any, ...]], str],
) -> list[str]:
    """One line per problem of ``error`` (raised by ``model``), keys prefixed with ``prefix``.

    ``source(loc)`` says where the value at ``loc`` came from (``in /etc/lt.yaml``,
    ``keyword argument``).
    """
    root = model_schema(model)
    out: list[str] = []
    for err in error.errors(include_url=False):
        loc = tuple(err["loc"])
        key = _join(prefix, *loc)
        where = source(loc)
        kind = err["type"]
        if kind == PROBLEMS:
            out.extend(f"{line} ({where})" for line in str((err.get("ctx") or {}).get("lines", "")).splitlines())
            continue
        if kind == "extra_forbidden":
            parent = _property(root, loc[:-1])
            known = list((_resolve(parent, root) if parent else {}).get("properties", {}))
            near = difflib.get_close_matches(str(loc[-1]), known, n=1)
            hint = f" (did you mean {_join(prefix, *loc[:-1], near[0])}?)" if near else ""
            section = _join(prefix, *loc[:-1])
            out.append(f"unknown key {key} in section {section}{hint} ({where})")
            continue
        prop = _property(root, loc)
        what = allowed(prop, root) if prop is not None else err["msg"]
        note = ""
        if kind == "too_large":
            note = " (too large for a float)"
        elif kind == "missing":
            out.append(f"{key} is missing: it must be {what} ({where})")
            continue
        elif kind in ("value_error", "assertion_error"):
            note = f" ({err['msg'].removeprefix('Value error, ')})"
        shown = "a value that is not shown (it may be a secret)" if loc and secret_like(str(loc[-1])) else (
            _short(err.get("input"))
        )
        out.append(f"{key} must be {what}, got {shown}{note} ({where})")
    return out


__all__ = ["PROBLEMS", "STRICT", "Bool", "Integer", "Number", "Section", "Text", "TextList", "allowed",
           "choice", "model_schema", "problem", "problems", "secret_like", "standard_schema"]
