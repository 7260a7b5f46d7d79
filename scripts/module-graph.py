#!/usr/bin/env python3
"""The module graph of one crate, and its circles.

    python3 scripts/module-graph.py crates/image-processor [--quiet]

Prints each module of the crate's `src/` (a file, named by its module path) with the modules of
the same crate it depends on, then exits 1 listing every circle: a set of modules that depend on
each other (a strongly connected component of more than one module), with one loop through it.

A dependency is any `crate::`, `super::` or `self::` path, in a `use` (groups included) or in the
code, a path that starts with a child module's name, and an intra-doc link (`[`crate::flow`]`,
`[text](super::Deadline)`, `[label]: crate::x`) in a `///` or `//!` comment. A path names the
deepest module it reaches: `crate::read::decode::Decoded` depends on `read::decode`, and
`crate::Processor` (a re-export) on the crate root. Declaring a child (`mod x;`) is not a
dependency; `use super::...` in a folder's file is one on its parent. Items under `#[cfg(test)]`
(a `mod tests { ... }`, a test-only file) are left out, and inline modules fold into their file.

Every root of the crate is read: `src/lib.rs`, `src/main.rs` and `src/bin/*` (each its own tree
of modules, named `main:...` or `bin/<name>:...` when it is not the library). Standard library
only.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


@dataclass
class Module:
    root: str  # "" for the library, "main" or "bin/<name>" for a binary
    path: tuple[str, ...]  # module path from the root, () for the root itself
    file: Path
    children: dict[str, Path] = field(default_factory=dict)
    deps: set[tuple[str, ...]] = field(default_factory=set)

    def name(self) -> str:
        return display(self.root, self.path)


def display(root: str, path: tuple[str, ...]) -> str:
    name = "::".join(path) if path else "crate"
    return f"{root}:{name}" if root else name


# ---------------------------------------------------------------------------------------------
# Lexing: code with comments and literals blanked out (positions kept), and the doc comments.


def lex(text: str) -> tuple[str, list[tuple[int, str]]]:
    """Returns the code with every comment and string or char literal replaced by spaces (newlines
    kept, so positions stay the same), and the doc comments as (position, text)."""
    out = list(text)
    docs: list[tuple[int, str]] = []
    i, n = 0, len(text)

    def blank(start: int, end: int) -> None:
        for k in range(start, end):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end == -1 else end
            body = text[i:end]
            if (body.startswith("///") and not body.startswith("////")) or body.startswith("//!"):
                docs.append((i, body[3:]))
            blank(i, end)
            i = end
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            body = text[i:j]
            if (body.startswith("/**") and not body.startswith("/***") and body != "/**/") or body.startswith("/*!"):
                docs.append((i, body[3:-2]))
            blank(i, j)
            i = j
        elif c in "rb" and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'(?:br|rb|r)(#*)"', text[i:i + 260])
            if m:
                closing = '"' + m.group(1)
                end = text.find(closing, i + m.end())
                end = n if end == -1 else end + len(closing)
                blank(i, end)
                i = end
            elif text.startswith('b"', i) or text.startswith("b'", i):
                i += 1  # the literal itself is handled on the next round
            else:
                i += 1
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            blank(i, j + 1)
            i = j + 1
        elif c == "'":
            # A char literal ('a', '\n', '\u{7f}', '\''), else a lifetime or label.
            m = re.match(r"'(?:\\(?:u\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{2}|.)|[^\\'\n])'", text[i:i + 12])
            if m:
                blank(i, i + m.end())
                i += m.end()
            else:
                i += 1
        else:
            i += 1
    return "".join(out), docs


def matching_brace(code: str, open_at: int) -> int:
    """The position just past the `}` that closes the `{` at `open_at`."""
    depth = 0
    for k in range(open_at, len(code)):
        if code[k] == "{":
            depth += 1
        elif code[k] == "}":
            depth -= 1
            if depth == 0:
                return k + 1
    return len(code)


CFG_TEST = re.compile(r"#\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]")
ATTRIBUTE = re.compile(r"\s*#\s*\[[^\]]*\]")


def test_spans(code: str) -> list[tuple[int, int]]:
    """Where the items under `#[cfg(test)]` are: each from the attribute to the item's end."""
    spans = []
    for m in CFG_TEST.finditer(code):
        pos = m.end()
        while (attr := ATTRIBUTE.match(code, pos)) is not None:
            pos = attr.end()
        semicolon, brace = code.find(";", pos), code.find("{", pos)
        if brace != -1 and (semicolon == -1 or brace < semicolon):
            spans.append((m.start(), matching_brace(code, brace)))
        else:
            spans.append((m.start(), len(code) if semicolon == -1 else semicolon + 1))
    return spans


def blank_spans(code: str, spans: list[tuple[int, int]]) -> str:
    chars = list(code)
    for start, end in spans:
        for k in range(start, end):
            if chars[k] != "\n":
                chars[k] = " "
    return "".join(chars)


INLINE_MOD = re.compile(rf"\bmod\s+({IDENT})\s*\{{")


def inline_modules(code: str) -> list[tuple[int, int, str]]:
    """(start, end, name) of every inline `mod name { ... }`."""
    return [(m.start(), matching_brace(code, m.end() - 1), m.group(1)) for m in INLINE_MOD.finditer(code)]


def inline_path(spans: list[tuple[int, int, str]], pos: int) -> tuple[str, ...]:
    return tuple(name for start, end, name in spans if start < pos < end)


# ---------------------------------------------------------------------------------------------
# `use` trees.

USE = re.compile(r"\buse\s+")
TOKEN = re.compile(rf"::|\{{|\}}|,|\*|\bas\b|{IDENT}")


def use_statements(code: str) -> list[tuple[int, str]]:
    """(position, tree) of every `use` declaration."""
    found = []
    for m in USE.finditer(code):
        if m.start() > 0 and (code[m.start() - 1].isalnum() or code[m.start() - 1] in "_#"):
            continue
        end = code.find(";", m.end())
        if end == -1:
            continue
        found.append((m.start(), code[m.end():end]))
    return found


def expand_use(tree: str) -> list[tuple[list[str], str | None]]:
    """Every path a use tree names, with the name it binds (None for a glob)."""
    tokens = TOKEN.findall(tree)
    pos = 0

    def parse(prefix: list[str]) -> list[tuple[list[str], str | None]]:
        nonlocal pos
        path = list(prefix)
        while pos < len(tokens):
            t = tokens[pos]
            if t == "::":
                pos += 1
            elif t == "{":
                pos += 1
                results = []
                while pos < len(tokens) and tokens[pos] != "}":
                    if tokens[pos] == ",":
                        pos += 1
                        continue
                    results.extend(parse(path))
                pos += 1  # the closing brace
                return results
            elif t == "*":
                pos += 1
                return [(path + ["*"], None)]
            elif t in (",", "}"):
                break
            elif t == "as":
                alias = tokens[pos + 1] if pos + 1 < len(tokens) else None
                pos += 2
                target = path[:-1] if path and path[-1] == "self" else path
                return [(target, None if alias == "_" else alias)]
            else:
                path.append(t)
                pos += 1
        if path and path[-1] == "self":
            path = path[:-1]
        return [(path, path[-1] if path else None)]

    return parse([])


# ---------------------------------------------------------------------------------------------
# The module tree.

MOD_DECL = re.compile(rf"\bmod\s+({IDENT})\s*;")


def child_file(parent_file: Path, parent_is_dir_owner: bool, name: str) -> Path | None:
    base = parent_file.parent if parent_is_dir_owner else parent_file.parent / parent_file.stem
    for candidate in (base / f"{name}.rs", base / name / "mod.rs"):
        if candidate.is_file():
            return candidate
    return None


def load_tree(root: str, root_file: Path) -> dict[tuple[str, ...], Module]:
    modules: dict[tuple[str, ...], Module] = {}
    pending = [((), root_file, True)]
    while pending:
        path, file, owns_dir = pending.pop()
        code, _ = lex(file.read_text(encoding="utf-8"))
        code = blank_spans(code, test_spans(code))
        module = Module(root, path, file)
        modules[path] = module
        inline = inline_modules(code)
        for m in MOD_DECL.finditer(code):
            if inline_path(inline, m.start()):
                continue  # a file module declared inside an inline one: not supported, rare
            child = child_file(file, owns_dir, m.group(1))
            if child is not None:
                module.children[m.group(1)] = child
                pending.append((path + (m.group(1),), child, child.name == "mod.rs"))
    return modules


def roots(src: Path) -> list[tuple[str, Path]]:
    found = []
    if (src / "lib.rs").is_file():
        found.append(("", src / "lib.rs"))
    if (src / "main.rs").is_file():
        found.append(("main", src / "main.rs"))
    bin_dir = src / "bin"
    if bin_dir.is_dir():
        for entry in sorted(bin_dir.iterdir()):
            if entry.suffix == ".rs":
                found.append((f"bin/{entry.stem}", entry))
            elif (entry / "main.rs").is_file():
                found.append((f"bin/{entry.name}", entry / "main.rs"))
    return found


# ---------------------------------------------------------------------------------------------
# Dependencies.

CODE_PATH = re.compile(rf"(?<![\w:])((?:{IDENT}\s*::\s*)+{IDENT}|{IDENT}\s*::\s*\*)")
DOC_LINK = re.compile(r"\[([^\[\]]+)\](?:\(([^()\s]+)\)|\[([^\[\]]+)\])?")
DOC_DEFINITION = re.compile(r"^\s*\[[^\[\]]+\]:\s*(\S+)\s*$")
LINK_TARGET = re.compile(rf"^(?:(?:struct|enum|trait|fn|mod|type|const|static|macro|method|value|union|prim|field|variant|tymethod|derive|attr)@)?((?:{IDENT}::)*{IDENT})(?:\(\)|!)?$")


def absolute(
    segments: list[str],
    here: tuple[str, ...],
    modules: dict[tuple[str, ...], Module],
    bound: dict[str, list[str]],
) -> list[str] | None:
    """`segments`, written in module `here`, as a path from the crate root; None for a path into
    another crate or to a local item."""
    if not segments:
        return None
    first, rest = segments[0], segments[1:]
    if first == "crate":
        return rest
    if first == "self":
        return [*here, *rest]
    if first == "super":
        base = list(here[:-1])
        while rest and rest[0] == "super":
            base, rest = base[:-1], rest[1:]
        return [*base, *rest]
    if here in modules and first in modules[here].children:
        return [*here, *segments]
    if first in bound:
        return [*bound[first], *rest]
    return None


def resolve(
    segments: list[str],
    here: tuple[str, ...],
    modules: dict[tuple[str, ...], Module],
    bound: dict[str, list[str]],
) -> tuple[str, ...] | None:
    """The deepest module of this crate that `segments`, written in module `here`, reaches."""
    # Inline modules fold into their file (for a child's name, the file's children count).
    file_here = here
    while file_here not in modules and file_here:
        file_here = file_here[:-1]
    path = absolute(segments, here, modules, bound)
    if path is None and file_here != here:
        path = absolute(segments, file_here, modules, bound)
    if path is None:
        return None
    base: tuple[str, ...] = ()
    for segment in path:
        if base + (segment,) in modules:
            base = base + (segment,)
        else:
            break
    return base


def dependencies(module: Module, modules: dict[tuple[str, ...], Module]) -> None:
    text = module.file.read_text(encoding="utf-8")
    code, docs = lex(text)
    tests = test_spans(code)
    code = blank_spans(code, tests)
    docs = [(pos, doc) for pos, doc in docs if not any(start <= pos < end for start, end in tests)]
    inline = inline_modules(code)

    def add(segments: list[str], pos: int, bound: dict[str, list[str]]) -> None:
        here = module.path + inline_path(inline, pos)
        target = resolve(segments, here, modules, bound)
        if target is not None and target != module.path:
            module.deps.add(target)

    # Names bound by `use`, as paths from the crate root (anywhere in the file: an approximation
    # of scopes).
    bound: dict[str, list[str]] = {}
    uses = use_statements(code)
    for pos, tree in uses:
        for path, name in expand_use(tree):
            here = module.path + inline_path(inline, pos)
            target = absolute(path, here, modules, {}) if name is not None else None
            if target is not None and name is not None:
                bound[name] = target
    for pos, tree in uses:
        for path, _ in expand_use(tree):
            add(path, pos, {})
    use_ranges = [(pos, code.find(";", pos)) for pos, _ in uses]
    for m in CODE_PATH.finditer(code):
        if any(start <= m.start() < end for start, end in use_ranges):
            continue
        segments = [s for s in re.split(r"\s*::\s*", m.group(1)) if s != "*"]
        if segments[0] in ("crate", "self", "super") or segments[0] in module.children:
            add(segments, m.start(), bound)
    for pos, doc in docs:
        targets = []
        for line in doc.splitlines() or [doc]:
            definition = DOC_DEFINITION.match(line)
            if definition:
                targets.append(definition.group(1))
                continue
            for link in DOC_LINK.finditer(line):
                text, inline_target, reference = link.groups()
                targets.append(inline_target or reference or text)
        for target in targets:
            m = LINK_TARGET.match(target.strip().strip("`").strip())
            if m:
                add(m.group(1).split("::"), pos, bound)


# ---------------------------------------------------------------------------------------------
# Circles.


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            advanced = False
            for succ in edges:
                if succ not in index:
                    index[succ] = low[succ] = counter
                    counter += 1
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph.get(succ, ())))))
                    advanced = True
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def loop_through(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest loop from the component's first module back to itself."""
    members = set(component)
    start = component[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for succ in sorted(graph[node] & members):
                if succ == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start] if len(path) > 1 else [start, node, start]
                if succ not in previous:
                    previous[succ] = node
                    following.append(succ)
        frontier = following
    return component


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("-")]
    quiet = "--quiet" in argv or "-q" in argv
    if len(args) != 1 or "-h" in argv or "--help" in argv:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    crate = Path(args[0])
    src = crate / "src"
    if not src.is_dir():
        print(f"{src}: no such directory", file=sys.stderr)
        return 2
    graph: dict[str, set[str]] = {}
    for root, root_file in roots(src):
        modules = load_tree(root, root_file)
        for module in modules.values():
            dependencies(module, modules)
        for module in sorted(modules.values(), key=lambda m: m.path):
            graph[module.name()] = {display(root, dep) for dep in module.deps}
            if not quiet:
                deps = ", ".join(sorted(display("", dep) for dep in module.deps)) or "-"
                print(f"{module.name():<28} {module.file.relative_to(src)!s:<30} -> {deps}")
    found = circles(graph)
    if not found:
        if not quiet:
            print(f"{crate}: no module circles")
        return 0
    print(f"{crate}: {len(found)} module circle(s):", file=sys.stderr)
    for component in found:
        print(f"  {', '.join(component)}", file=sys.stderr)
        print(f"    e.g. {' -> '.join(loop_through(component, graph))}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
