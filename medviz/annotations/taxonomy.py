"""The failure-mode taxonomy: a versioned tree of tags loaded from an editable TOML (or JSON) file.

A tag is named by its full path ("Perceptual error/Detail missed"); every annotation stores the taxonomy
version it used. Nodes may carry a ``role`` that medviz reasons about: ``image_ignored`` (compared with
the measured image-blind answers) and ``answer_key_disputed`` (needs a proposed answer; excluded when
re-scoring). The default file ships in this package (``taxonomy.toml``).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from ..errors import MedvizError

DEFAULT_PATH = os.path.join(os.path.dirname(__file__), "taxonomy.toml")
SEP = "/"
ROLES = ("image_ignored", "answer_key_disputed")


@dataclass
class TagNode:
    name: str
    description: str = ""
    role: str | None = None
    children: list["TagNode"] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = {"name": self.name, "description": self.description}
        if self.role:
            d["role"] = self.role
        if self.children:
            d["children"] = [c.to_dict() for c in self.children]
        return d


@dataclass
class Taxonomy:
    version: str
    tree: list[TagNode]
    source: str | None = None

    def paths(self) -> list[str]:
        """Every tag's full path, parents before children, in file order."""
        out: list[str] = []

        def walk(nodes, prefix):
            for n in nodes:
                p = prefix + n.name
                out.append(p)
                walk(n.children, p + SEP)
        walk(self.tree, "")
        return out

    def _index(self) -> dict[str, TagNode]:
        cached = self.__dict__.get("_idx")
        if cached is not None:
            return cached
        idx: dict[str, TagNode] = {}

        def walk(nodes, prefix):
            for n in nodes:
                idx[prefix + n.name] = n
                walk(n.children, prefix + n.name + SEP)
        walk(self.tree, "")
        self.__dict__["_idx"] = idx      # taxonomies are not edited in place; a new version is a new object
        return idx

    def __contains__(self, path: str) -> bool:
        return path in self._index()

    def node(self, path: str) -> TagNode:
        try:
            return self._index()[path]
        except KeyError:
            raise MedvizError(f"tag '{path}' is not in taxonomy {self.version}", field="tags") from None

    def label(self, path: str) -> str:
        """Short display label: the last path segment."""
        return path.rsplit(SEP, 1)[-1]

    def description(self, path: str) -> str:
        return self.node(path).description

    def top(self, path: str) -> str:
        """Top-level category of a tag path."""
        return path.split(SEP, 1)[0]

    def path_for_role(self, role: str) -> str | None:
        for p, n in self._index().items():
            if n.role == role:
                return p
        return None

    def leaves(self) -> list[str]:
        idx = self._index()
        return [p for p in self.paths() if not idx[p].children]

    def validate_tags(self, tags) -> list[str]:
        """The tags, de-duplicated in given order; MedvizError naming the first unknown tag."""
        if isinstance(tags, str) or not tags:
            raise MedvizError("give at least one tag (a list of taxonomy paths)", field="tags")
        idx = self._index()
        out = []
        for t in tags:
            if not isinstance(t, str) or t not in idx:
                raise MedvizError(f"unknown tag '{t}' (not in taxonomy {self.version})", field="tags")
            if t not in out:
                out.append(t)
        return out

    def to_dict(self) -> dict:
        return {"version": self.version, "tag": [n.to_dict() for n in self.tree]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1)

    def to_toml(self) -> str:
        """The taxonomy as an editable TOML file (what ``load_taxonomy`` reads)."""
        q = lambda v: json.dumps(v, ensure_ascii=False)  # noqa: E731 - JSON strings are TOML basic strings
        lines = [f"version = {q(self.version)}"]

        def walk(nodes, table, depth):
            for n in nodes:
                indent = "  " * depth
                lines.extend(["", f"{indent}[[{table}]]", f"{indent}name = {q(n.name)}"])
                if n.description:
                    lines.append(f"{indent}description = {q(n.description)}")
                if n.role:
                    lines.append(f"{indent}role = {q(n.role)}")
                walk(n.children, table + ".children", depth + 1)
        walk(self.tree, "tag", 0)
        return "\n".join(lines) + "\n"


def _node(d, where: str) -> TagNode:
    if not isinstance(d, dict) or not isinstance(d.get("name"), str) or not d["name"].strip():
        raise MedvizError("every tag needs a non-empty 'name'", file=where, field="name")
    name = d["name"].strip()
    if SEP in name:
        raise MedvizError(f"tag name '{name}' must not contain '{SEP}'", file=where, field="name")
    role = d.get("role")
    if role is not None and role not in ROLES:
        raise MedvizError(f"unknown role '{role}' on tag '{name}' (known: {', '.join(ROLES)})",
                          file=where, field="role")
    children = [_node(c, where) for c in d.get("children", [])]
    return TagNode(name=name, description=str(d.get("description", "")), role=role, children=children)


def taxonomy_from_dict(data: dict, where: str = "<taxonomy>") -> Taxonomy:
    version = data.get("version")
    if not isinstance(version, str) or not version.strip():
        raise MedvizError("the taxonomy needs a 'version' string", file=where, field="version")
    tags = data.get("tag") or data.get("tags")
    if not isinstance(tags, list) or not tags:
        raise MedvizError("the taxonomy has no [[tag]] entries", file=where, field="tag")
    tax = Taxonomy(version=version.strip(), tree=[_node(t, where) for t in tags], source=where)
    paths = tax.paths()
    dup = {p for p in paths if paths.count(p) > 1}
    if dup:
        raise MedvizError(f"duplicate tag path(s): {', '.join(sorted(dup))}", file=where, field="name")
    roles = [n.role for n in tax._index().values() if n.role]
    if len(roles) != len(set(roles)):
        raise MedvizError("each role may be given to one tag only", file=where, field="role")
    return tax


def taxonomy_from_text(text: str, fmt: str = "toml", where: str = "<edited taxonomy>") -> Taxonomy:
    """Parse a taxonomy an adjudicator edited in the app (TOML or JSON text)."""
    try:
        if fmt == "json":
            data = json.loads(text)
        else:
            import tomllib
            data = tomllib.loads(text)
    except ValueError as e:
        raise MedvizError(f"not a valid taxonomy ({e})", file=where) from None
    return taxonomy_from_dict(data, where)


def load_taxonomy(path: str | None = None) -> Taxonomy:
    """Read a taxonomy file (TOML or JSON); without ``path`` the default shipped with medviz."""
    path = path or DEFAULT_PATH
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise MedvizError(f"cannot read taxonomy ({e.strerror})", file=path) from None
    try:
        if path.endswith(".json"):
            data = json.loads(raw.decode("utf-8"))
        else:
            import tomllib
            data = tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise MedvizError(f"not a valid taxonomy file ({e})", file=path) from None
    return taxonomy_from_dict(data, path)


def active_taxonomy(store) -> Taxonomy:
    """The newest taxonomy an adjudicator published into this store, else the default file."""
    from ..store import annotations as sql
    row = sql.latest_taxonomy(store.cursor())
    if row is None:
        return load_taxonomy()
    return taxonomy_from_dict(json.loads(row[1]), f"store taxonomy {row[0]}")


def taxonomy_for_version(store, version: str | None) -> Taxonomy | None:
    """The taxonomy with this version (the default file or one published into the store), or None."""
    from ..store import annotations as sql
    default = load_taxonomy()
    if version is None or version == default.version:
        return default
    body = sql.taxonomy_body(store.cursor(), version)
    return None if body is None else taxonomy_from_dict(json.loads(body), f"store taxonomy {version}")
