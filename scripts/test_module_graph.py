"""Tests of scripts/module-graph.py: small crates written to a temporary directory, and the
workspace's own crates.

    .venv/bin/python -m pytest -q -p no:cacheprovider scripts/test_module_graph.py
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("module-graph.py")
ROOT = SCRIPT.parent.parent

_spec = importlib.util.spec_from_file_location("module_graph", SCRIPT)
assert _spec is not None and _spec.loader is not None
graph = importlib.util.module_from_spec(_spec)
sys.modules["module_graph"] = graph
_spec.loader.exec_module(graph)


def crate(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / "src" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def run(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True, check=False)


def deps(path: Path) -> dict[str, set[str]]:
    """Module name -> its dependencies, for the library's tree."""
    modules = graph.load_tree("", path / "src" / "lib.rs")
    for module in modules.values():
        graph.dependencies(module, modules)
    return {module.name(): {graph.display("", d) for d in module.deps} for module in modules.values()}


def test_a_layered_crate_has_no_circle(tmp_path):
    path = crate(
        tmp_path,
        {
            "lib.rs": "//! See [`flow`].\npub mod error;\npub mod flow;\npub mod read;\npub use flow::run;\n",
            "error.rs": "pub struct Error;\n",
            "read/mod.rs": "//! Reading.\npub mod decode;\npub mod sniff;\n",
            "read/sniff.rs": "use crate::error::Error;\npub fn sniff() -> Result<(), Error> { Ok(()) }\n",
            "read/decode.rs": "use super::sniff;\npub fn decode() { sniff::sniff().ok(); }\n",
            "flow.rs": "use crate::read::{decode, sniff::{self}};\npub fn run() { decode::decode(); }\n",
        },
    )
    result = run(path)
    assert result.returncode == 0, result.stderr
    found = deps(path)
    assert found["crate"] == {"flow"}
    assert found["read"] == set(), "declaring children is no dependency"
    assert found["read::decode"] == {"read::sniff"}
    assert found["read::sniff"] == {"error"}
    assert found["flow"] == {"read::decode", "read::sniff"}


def test_a_circle_through_use_is_found_and_named(tmp_path):
    path = crate(
        tmp_path,
        {
            "lib.rs": "mod a;\nmod b;\nmod c;\n",
            "a.rs": "use crate::b::B;\npub struct A;\n",
            "b.rs": "pub struct B;\npub fn f() { crate::c::g(); }\n",
            "c.rs": "use crate::{a::A, b};\npub fn g() {}\n",
        },
    )
    result = run(path)
    assert result.returncode == 1
    assert "a, b, c" in result.stderr
    assert "e.g. a -> b -> c -> a" in result.stderr


def test_a_doc_link_is_a_dependency(tmp_path):
    path = crate(
        tmp_path,
        {
            "lib.rs": "pub mod flow;\npub mod outputs;\n",
            "flow.rs": "use crate::outputs::Body;\npub fn plan(_: Body) {}\n",
            "outputs.rs": "/// Stored as [`crate::flow::plan`] says.\npub struct Body;\n",
        },
    )
    result = run(path)
    assert result.returncode == 1
    assert "flow, outputs" in result.stderr
    for link in ("[text](crate::flow::plan)", "[text][crate::flow]", "[`fn@crate::flow::plan`]"):
        (path / "src" / "outputs.rs").write_text(f"/// Stored as {link} says.\npub struct Body;\n")
        assert run(path).returncode == 1, link
    # A link to a URL, or code in backticks only, is no dependency.
    (path / "src" / "outputs.rs").write_text(
        "/// See [the docs](https://example.com/flow) and `crate::flow::plan`.\npub struct Body;\n"
    )
    assert run(path).returncode == 0


def test_use_super_in_a_folder_is_a_dependency_on_its_parent(tmp_path):
    path = crate(
        tmp_path,
        {
            "lib.rs": "pub mod store;\n",
            "store/mod.rs": "pub mod s3;\npub use s3::S3;\npub struct Key;\n",
            "store/s3.rs": "use super::Key;\npub struct S3(Key);\n",
        },
    )
    result = run(path)
    assert result.returncode == 1
    assert "store, store::s3" in result.stderr


def test_test_modules_comments_and_strings_are_ignored(tmp_path):
    path = crate(
        tmp_path,
        {
            "lib.rs": "mod a;\nmod b;\n",
            "a.rs": "use crate::b::B;\npub struct A;\n",
            "b.rs": (
                "pub struct B;\n"
                "// crate::a::A in a comment\n"
                "/* crate::a::A in a block */\n"
                'pub const S: &str = "crate::a::A";\n'
                "pub fn f<'a>(x: &'a str) -> char { let _ = x; '\"' }\n"
                "#[cfg(test)]\nmod tests {\n    use super::*;\n    use crate::a::A;\n    /// [`crate::a`]\n    fn t() {}\n}\n"
            ),
        },
    )
    result = run(path)
    assert result.returncode == 0, result.stderr
    assert deps(path)["b"] == set()


def test_a_reexport_used_through_the_root_is_a_circle(tmp_path):
    path = crate(
        tmp_path,
        {
            "lib.rs": "mod error;\nmod parse;\npub use error::Error;\n",
            "error.rs": "pub struct Error;\n",
            "parse.rs": "use crate::Error;\npub fn parse() -> Error { Error }\n",
        },
    )
    result = run(path)
    assert result.returncode == 0, "lib uses error, parse uses lib: no loop"
    (path / "src" / "lib.rs").write_text("mod error;\nmod parse;\npub use error::Error;\npub use parse::parse;\n")
    result = run(path)
    assert result.returncode == 1
    assert "crate, parse" in result.stderr


def test_binaries_are_trees_of_their_own(tmp_path):
    path = crate(
        tmp_path,
        {
            "main.rs": "mod process;\nmod release;\nfn main() { process::run(); }\n",
            "process.rs": "pub fn run() { crate::release::go(); }\n",
            "release.rs": "pub fn go() {}\n",
            "bin/demo.rs": "mod process;\nfn main() {}\n",
            "bin/process.rs": "pub fn run() {}\n",
        },
    )
    result = subprocess.run([sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "main:process" in result.stdout and "bin/demo:process" in result.stdout


# Circles these crates still had when this test was written (not yet broken): a re-export in the
# parent used by the child it re-exports from, or a lib.rs item a module uses while lib.rs uses it.


@pytest.mark.parametrize(
    "name",
    [
        c.name
        for c in sorted((ROOT / "crates").iterdir())
        if (c / "src").is_dir()
    ],
)
def test_the_crate_has_no_module_circle(name):
    result = run(ROOT / "crates" / name)
    assert result.returncode == 0, result.stderr
