"""One way to tell a person what is wrong with their input: close matches and validation messages.

Every "did you mean" of the twin comes from :func:`close_match` /
:func:`did_you_mean`, and every pydantic validation error of an input file
(scenario, device file, emulator config) is turned into messages by
:func:`format_validation_error`: ``file:line: key = received: what is
allowed; did you mean 'x'?``. Pure functions on text and models: no file is
read here (callers pass the text they read).
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

__all__ = [
    "allowed_keys",
    "close_match",
    "did_you_mean",
    "find_line",
    "format_validation_error",
    "format_problems",
    "key_path",
]


def close_match(word: str, choices: Iterable[str], *, cutoff: float = 0.6, fold_case: bool = False) -> str | None:
    """The closest of ``choices`` to ``word`` (difflib's ratio at least ``cutoff``), or None."""
    options = list(choices)
    if fold_case:
        by_lower = {c.lower(): c for c in options}
        m = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=cutoff)
        return by_lower[m[0]] if m else None
    m = difflib.get_close_matches(word, options, n=1, cutoff=cutoff)
    return m[0] if m else None


def did_you_mean(
    word: str, choices: Iterable[str], *, cutoff: float = 0.6, fold_case: bool = False, sep: str = "; "
) -> str:
    """``"; did you mean 'x'?"`` for the closest choice, or ``""`` when nothing is close."""
    m = close_match(word, choices, cutoff=cutoff, fold_case=fold_case)
    return f"{sep}did you mean '{m}'?" if m else ""


def key_path(loc: Sequence[Any]) -> str:
    """A pydantic location as a person writes it: ``models.fleet.mix[2].share``."""
    out = ""
    for p in loc:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def _inner_model(ann: Any, node: Any, discriminator: str) -> Any:
    """The pydantic model inside an annotation (tuple[...], Annotated[Union[...]], X | None)."""
    args = typing.get_args(ann)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    if typing.get_origin(ann) is typing.Annotated:
        return _inner_model(args[0], node, discriminator)
    models = []
    stack = list(args)
    while stack:
        a = stack.pop(0)
        if isinstance(a, type) and issubclass(a, BaseModel):
            models.append(a)
        elif typing.get_origin(a) is typing.Annotated:
            stack.insert(0, typing.get_args(a)[0])
        else:
            stack.extend(typing.get_args(a))
    if len(models) == 1:
        return models[0]
    kind = node.get(discriminator) if isinstance(node, dict) else None
    for m in models:  # a discriminated union: pick the member by its tag
        f = m.model_fields.get(discriminator)
        if f is not None and kind in typing.get_args(f.annotation):
            return m
    return None


def allowed_keys(
    model: type[BaseModel], loc: Sequence[Any], data: Any = None, *, discriminator: str = "kind"
) -> list[str] | None:
    """The keys allowed in the table at ``loc`` under ``model`` (aliases where set), walking the schema."""
    cur: Any = model
    node = data if data is not None else {}
    ann: Any = None
    for part in loc:
        if isinstance(part, int):  # an item of an array of tables: its model may depend on its tag
            node = node[part] if isinstance(node, list) and part < len(node) else {}
            cur = _inner_model(ann, node, discriminator) if ann is not None else cur
            if cur is None:
                return None
            continue
        if not (isinstance(cur, type) and issubclass(cur, BaseModel)):
            return None
        f = cur.model_fields.get(part) or next((fi for fi in cur.model_fields.values() if fi.alias == part), None)
        if f is None:
            return None
        node = node.get(part, {}) if isinstance(node, dict) else {}
        ann = f.annotation
        cur = _inner_model(ann, node, discriminator)
    if isinstance(cur, type) and issubclass(cur, BaseModel):
        return [fi.alias or n for n, fi in cur.model_fields.items()]
    return None


_HEADER_RE = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.\-\"]+)\s*\]\]?\s*(#.*)?$")
_KEY_RE = re.compile(r"^\s*([A-Za-z0-9_\-\"]+(?:\.[A-Za-z0-9_\-\"]+)*)\s*=")


def find_line(text: str, loc: Sequence[Any]) -> int | None:
    """Best-effort line number of the key at ``loc`` in a TOML text (its table's header if the key is absent)."""
    lines = text.splitlines()
    keys = [p for p in loc if isinstance(p, str)]
    if not keys:
        return None
    section: list[str] = []
    want_index: int | None = None
    for p in loc[:-1]:
        if isinstance(p, int):
            want_index = p
        else:
            section.append(p)
    key = loc[-1] if isinstance(loc[-1], str) else None
    if key is None:  # the location is an item of an array of tables
        want_index = loc[-1]
    current: list[str] = []
    count: dict[str, int] = {}
    candidates: list[int] = []
    for n, line in enumerate(lines, start=1):
        m = _HEADER_RE.match(line)
        if m:
            current = [s.strip('"') for s in m.group(1).split(".")]
            if line.strip().startswith("[["):
                count[m.group(1)] = count.get(m.group(1), -1) + 1
            continue
        if key is None:
            continue
        km = _KEY_RE.match(line)
        if not km:
            continue
        full = current + [s.strip('"') for s in km.group(1).split(".")]
        path = section + [key]
        if full[-len(path) :] == path or full == path:
            if want_index is not None and count.get(".".join(current), -1) != want_index:
                continue
            candidates.append(n)
    if candidates:
        return candidates[0]
    # the table itself (a missing key, a whole event): its header; for an item of an array of tables, its header
    seen = -1
    for n, line in enumerate(lines, start=1):
        m = _HEADER_RE.match(line)
        if m and [s.strip('"') for s in m.group(1).split(".")] == section:
            seen += 1
            if want_index is None or not line.strip().startswith("[[") or seen == want_index:
                return n
    return None


def _union_tags(model: type[BaseModel], discriminator: str) -> set[str]:
    """Every tag value of a discriminated union reachable from ``model``."""
    tags: set[str] = set()
    seen: set[type] = set()
    stack: list[Any] = [model]
    while stack:
        a = stack.pop()
        if isinstance(a, type) and issubclass(a, BaseModel):
            if a in seen:
                continue
            seen.add(a)
            f = a.model_fields.get(discriminator)
            if f is not None and typing.get_origin(f.annotation) is typing.Literal:
                tags.update(str(t) for t in typing.get_args(f.annotation))
            stack.extend(fi.annotation for fi in a.model_fields.values())
        else:
            stack.extend(typing.get_args(a))
    return tags


def _noun(loc: Sequence[Any]) -> str:
    """``events`` -> ``an event``, ``jobs`` -> ``a job``: the item kind of the array at ``loc``."""
    name = next((str(p) for p in reversed(loc) if isinstance(p, str)), "item")
    name = name[:-1] if name.endswith("s") else name
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"


def format_validation_error(
    exc: ValidationError,
    *,
    model: type[BaseModel],
    source: str,
    text: str | None = None,
    data: Any = None,
    discriminator: str = "kind",
) -> list[str]:
    """One message per pydantic error: ``source:line: key = received: problem; did you mean ...``.

    ``text`` (the file's text) gives line numbers; ``data`` (what it parsed to)
    lets unknown keys be matched against the keys allowed at their place.
    """
    tags = _union_tags(model, discriminator)
    msgs = []
    for err in exc.errors(include_url=False):
        raw = tuple(err["loc"])
        # pydantic puts a union member's tag into the path after the list index: drop it
        loc = tuple(p for i, p in enumerate(raw) if not (i > 0 and isinstance(raw[i - 1], int) and p in tags))
        typ = err["type"]
        where = key_path(loc)
        line = find_line(text, loc) if text is not None else None
        prefix = f"{source}:{line}" if line else source
        received = err.get("input")
        if typ == "extra_forbidden":
            key = str(loc[-1])
            allowed = allowed_keys(model, loc[:-1], data, discriminator=discriminator) or []
            hint = did_you_mean(key, allowed) or ";"
            msgs.append(f"{prefix}: unknown key '{where}'{hint} Allowed keys here: {', '.join(sorted(allowed))}")
            continue
        if typ in ("union_tag_invalid", "union_tag_not_found"):
            kind = received.get(discriminator) if isinstance(received, dict) else received
            expected = re.findall(r"'([^']*)'", str((err.get("ctx") or {}).get("expected_tags", "")))
            hint = did_you_mean(str(kind), expected, cutoff=0.5) or ";"
            msgs.append(
                f"{prefix}: {where}.{discriminator} = {kind!r} is not {_noun(loc)} {discriminator}{hint} "
                f"Allowed: {', '.join(expected)}"
            )
            continue
        if typ == "missing":
            msgs.append(f"{prefix}: {where}: required key is missing")
            continue
        shown = received if not isinstance(received, (dict, list)) or len(repr(received)) < 80 else "..."
        if typ == "literal_error" and isinstance(received, str):
            allowed = re.findall(r"'([^']*)'", err["msg"])
            msgs.append(f"{prefix}: {where} = {received!r}: {err['msg']}{did_you_mean(received, allowed, cutoff=0.5)}")
            continue
        msg = err["msg"].removeprefix("Value error, ")
        msgs.append(f"{prefix}: {where} = {shown!r}: {msg}" if loc else f"{prefix}: {msg}")
    return msgs


def format_problems(
    source: str, msgs: Sequence[str], what: str = "the scenario", *, max_shown: int | None = None
) -> str:
    """One message alone, or several under a header ``source: N problems in what:``.

    With ``max_shown``, only the first that many are listed, then ``... and K more``.
    """
    n = len(msgs)
    if n == 1:
        return msgs[0]
    shown = msgs if max_shown is None else msgs[:max_shown]
    more = f"\n  ... and {n - len(shown)} more" if len(shown) < n else ""
    listed = "\n".join("  " + m.replace("\n", "\n  ") for m in shown)
    return f"{source}: {n} problems in {what}:\n{listed}{more}"
