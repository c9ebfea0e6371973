"""The official 3GPP OpenAPI files, loaded once: class schemas, ErrorResponse, the ProvMnS contract.

The files are read from a folder the caller names (``--specs`` or ``MNS_3GPP_SPECS``), never
copied. Each file is parsed once per process, when a ``$ref`` first reaches it (the NRM files
are large and most runs need three of them), and registered with ``referencing`` under a base
URI so the relative cross-file ``$ref`` s (``TS28623_ComDefs.yaml#/components/schemas/Dn``)
resolve. The documents are OpenAPI 3.0 schema objects; they are validated as JSON Schema draft 4
(whose ``$ref`` hides sibling keywords, as in OpenAPI 3.0) after rewriting ``nullable: true``
into a type that admits ``null``. ``format`` is not asserted (OpenAPI formats such as ``float``
or ``full-time`` are annotations).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import jsonschema
import yaml
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT4

SPECS_ENV: Final = "MNS_3GPP_SPECS"
PROV_MNS_FILE: Final = "TS28532_ProvMnS.yaml"
COMDEFS_FILE: Final = "TS28623_ComDefs.yaml"
BASE_URI: Final = "https://3gpp.invalid/openapi/"
"""An absolute base for the files, so their relative ``$ref`` s resolve between them."""

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SpecsNotFound(Exception):
    """The 3GPP OpenAPI folder is not given or does not hold the files the suite needs."""


def locate_specs(specs: Path | str | None = None) -> Path:
    """The folder of the OpenAPI files: ``specs`` or ``$MNS_3GPP_SPECS`` (or its ``openapi``)."""
    given = specs if specs is not None else os.environ.get(SPECS_ENV)
    if not given:
        raise SpecsNotFound(
            "no 3GPP spec folder: pass --specs DIR (specs=Path(...)) or set the environment "
            f"variable {SPECS_ENV} to the folder holding openapi/{PROV_MNS_FILE}"
        )
    folder = Path(given).expanduser().resolve()
    for candidate in (folder / "openapi", folder):
        if (candidate / PROV_MNS_FILE).is_file():
            return candidate
    raise SpecsNotFound(
        f"{folder} holds neither {PROV_MNS_FILE} nor openapi/{PROV_MNS_FILE}: point --specs or "
        f"{SPECS_ENV} at the 3GPP folder (the one with openapi/TS28532_ProvMnS.yaml)"
    )


def _nullable(node: Any) -> Any:
    """An OpenAPI 3.0 schema tree with ``nullable: true`` rewritten as JSON Schema."""
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable(v) for k, v in node.items()}
    if out.pop("nullable", False) is not True:
        return out
    if "type" in out:
        kind = out["type"]
        out["type"] = [kind, "null"] if isinstance(kind, str) else [*kind, "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        return out
    if set(out) - {"description", "example", "default", "title"}:
        return {"anyOf": [{"type": "null"}, out]}
    return out  # ``nullable`` alone: anything, null included


@functools.lru_cache(maxsize=128)
def _parse(path: str, mtime_ns: int) -> Any:
    with open(path, "rb") as f:
        return _nullable(yaml.load(f, Loader=_Loader))


@dataclass(frozen=True, slots=True)
class Problem:
    """One schema violation: where in the instance, what, and the schema keyword path."""

    path: str
    message: str
    schema_path: str

    def __str__(self) -> str:
        where = self.path or "(the object)"
        return f"{where}: {self.message} [schema {self.schema_path}]"


def _problem(error: ValidationError) -> Problem:
    path = "/".join(str(p) for p in error.absolute_path)
    schema_path = "/".join(str(p) for p in error.absolute_schema_path)
    message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
    return Problem(path, message, schema_path)


@dataclass(frozen=True, slots=True)
class Operation:
    """What TS28532_ProvMnS.yaml allows one HTTP method to answer.

    ``responses`` maps each explicit status code to the media types its body may have (empty:
    no body); ``default`` holds the media types of the error case, or None when there is none.
    """

    method: str
    responses: Mapping[int, frozenset[str]]
    default: frozenset[str] | None


@dataclass
class OpenApiSpecs:
    """The OpenAPI files of one folder: validators by class, known keys, the ProvMnS contract."""

    folder: Path
    _validators: dict[str, Any] = field(default_factory=dict)
    _keys: dict[str, tuple[frozenset[str], frozenset[str]]] = field(default_factory=dict)
    registry: Registry[Any] = field(init=False)

    def __post_init__(self) -> None:
        self.registry = Registry(retrieve=self._retrieve)  # type: ignore[call-arg]

    def document(self, name: str) -> Any:
        """A parsed file (``nullable`` already rewritten); raises FileNotFoundError."""
        path = self.folder / name
        return _parse(str(path), path.stat().st_mtime_ns)

    def _retrieve(self, uri: str) -> Resource[Any]:
        if not uri.startswith(BASE_URI):
            raise Unresolvable(uri)
        try:
            return DRAFT4.create_resource(self.document(uri[len(BASE_URI) :]))
        except FileNotFoundError:
            raise Unresolvable(uri) from None

    @staticmethod
    def ref(file: str, schema: str) -> str:
        """The absolute ``$ref`` of a component schema of a file."""
        return f"{BASE_URI}{file}#/components/schemas/{schema}"

    def has_schema(self, file: str, schema: str) -> bool:
        """Whether ``file`` exists and defines ``components/schemas/<schema>``."""
        try:
            doc = self.document(file)
        except FileNotFoundError:
            return False
        return schema in ((doc or {}).get("components") or {}).get("schemas", {})

    def validator(self, file: str, schema: str) -> Any:
        """A draft 4 validator of ``file#/components/schemas/<schema>``, made once."""
        key = f"{file}#{schema}"
        validator = self._validators.get(key)
        if validator is None:
            validator = jsonschema.Draft4Validator({"$ref": self.ref(file, schema)}, registry=self.registry)
            self._validators[key] = validator
        return validator

    def validate(self, file: str, schema: str, instance: Any, *, limit: int = 3) -> list[Problem]:
        """The violations of ``instance`` (the most relevant first), at most ``limit``."""
        errors = list(self.validator(file, schema).iter_errors(instance))
        if not errors:
            return []
        first = best_match(errors)
        rest = [e for e in errors if e is not first]
        return [_problem(e) for e in [first, *rest][:limit]]

    # -- what a class schema knows --------------------------------------------------------------

    def _resolve(self, node: Any, base: str) -> Iterator[tuple[Any, str]]:
        """A schema node and every sub-schema it combines (refs followed, allOf/anyOf/oneOf)."""
        seen: set[int] = set()
        stack = [(node, base)]
        while stack:
            current, where = stack.pop()
            if not isinstance(current, dict) or id(current) in seen:
                continue
            seen.add(id(current))
            if "$ref" in current:
                ref = current["$ref"]
                target = ref if ref.startswith(BASE_URI) else _join(where, ref)
                try:
                    resolved = self.registry.resolver(base_uri=where).lookup(target)
                except Unresolvable:
                    continue
                stack.append((resolved.contents, target.split("#")[0]))
                continue
            yield current, where
            for combinator in ("allOf", "anyOf", "oneOf"):
                stack.extend((sub, where) for sub in current.get(combinator, ()))

    def known_keys(self, file: str, schema: str) -> tuple[frozenset[str], frozenset[str]]:
        """(attribute names under ``attributes``, top-level member names) a class schema knows."""
        key = f"{file}#{schema}"
        cached = self._keys.get(key)
        if cached is not None:
            return cached
        top: set[str] = set()
        attributes: set[str] = set()
        start = self.ref(file, schema)
        for node, where in self._resolve({"$ref": start}, BASE_URI + file):
            props = node.get("properties") or {}
            top.update(props)
            if "attributes" in props:
                for attr_node, _ in self._resolve(props["attributes"], where):
                    attributes.update(attr_node.get("properties") or {})
        result = frozenset(attributes), frozenset(top)
        self._keys[key] = result
        return result

    # -- the ProvMnS contract -----------------------------------------------------------------

    @functools.cached_property
    def operations(self) -> dict[str, Operation]:
        """Per method (upper case), what TS28532_ProvMnS.yaml allows it to answer."""
        doc = self.document(PROV_MNS_FILE)
        paths = doc.get("paths") or {}
        item = next((v for k, v in paths.items() if "{className}" in k), None)
        if item is None:
            raise SpecsNotFound(f"{PROV_MNS_FILE} has no '/{{className}}={{id}}' path")
        operations: dict[str, Operation] = {}
        for method in ("get", "put", "patch", "delete"):
            op = item.get(method)
            if not op:
                continue
            responses: dict[int, frozenset[str]] = {}
            default: frozenset[str] | None = None
            for code, response in (op.get("responses") or {}).items():
                media = frozenset(((response or {}).get("content") or {}).keys())
                if str(code) == "default":
                    default = media
                else:
                    responses[int(code)] = media
            operations[method.upper()] = Operation(method.upper(), responses, default)
        return operations

    @functools.cached_property
    def error_response_ref(self) -> tuple[str, str]:
        """(file, schema) of the error body TS28532_ProvMnS.yaml names (ComDefs ErrorResponse)."""
        paths = self.document(PROV_MNS_FILE).get("paths") or {}
        for item in paths.values():
            for op in (item or {}).values():
                default = ((op or {}).get("responses") or {}).get("default") if isinstance(op, dict) else None
                ref = (((default or {}).get("content") or {}).get("application/json") or {}).get("schema", {})
                target = ref.get("$ref", "") if isinstance(ref, dict) else ""
                if "#/components/schemas/" in target:
                    file, _, name = target.partition("#/components/schemas/")
                    return file or PROV_MNS_FILE, name
        return COMDEFS_FILE, "ErrorResponse"


def _join(base: str, ref: str) -> str:
    if ref.startswith("#"):
        return base.split("#", maxsplit=1)[0] + ref
    return BASE_URI + ref if "://" not in ref else ref


@functools.lru_cache(maxsize=8)
def load_specs(folder: Path) -> OpenApiSpecs:
    """The OpenAPI files of ``folder`` (a resolved ``openapi`` folder), shared per process."""
    specs = OpenApiSpecs(folder)
    specs.operations  # noqa: B018 - parse the ProvMnS contract now, failing early
    return specs
