"""Each install extra is enough for its part of hedge: every module of a party imports with only
the packages of that party's extra (and what they depend on) importable.

How: for each extra, a child interpreter imports every module the extra covers (`_EXTRAS_OF`),
with an import blocker installed first in `sys.meta_path`. The blocker refuses every top-level
module that belongs to an installed distribution outside the extra's dependency closure: the
requirements of hedge's base and of the extra in pyproject.toml (this checkout's, not an
installed copy's metadata), then those of each required distribution from
`importlib.metadata`, extras and environment markers honoured. The standard library is always
allowed, and so are pip and setuptools, which every virtual environment holds.

Why this is the same as an environment holding only the extra's packages: there, importing a
module of an absent distribution finds nothing and raises `ModuleNotFoundError`; the blocker
raises that very exception, for exactly those names, before any other finder is asked. So every
import behaves as it would there: hedge's top-level imports, the imports those trigger, and the
guarded probes of optional packages inside third-party libraries (`try: import pyarrow`), which
take their not-installed branch. The distributions of the closure import as installed, at the
pinned versions. The child also checks that nothing outside the closure was imported before the
blocker (by `.pth` files at start-up). Two things the blocker does not hide, and hedge does not
use: other distributions' metadata (`importlib.metadata.version(...)`) and their data files.

The other way round the test fails too: a module the blocker allows but that no finder finds
(a distribution of the closure that is not installed here, or a missing module of hedge) is
reported as missing, and an extra's distribution that is not installed fails the test before
any import, since the child could not stand for that extra's environment then.
"""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import hedge

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
#: extras of tools, not of parts of hedge: no module needs them at import
TOOLING = {"test", "dev", "bench", "ray"}
#: in every virtual environment, whatever is installed into it
ALWAYS = {"pip", "setuptools"}

#: which extras a module needs (any one of them): the longest matching prefix; the base ("")
#: for any other module
_EXTRAS_OF: dict[str, set[str]] = {
    "hedge.edge": {"edge"}, "hedge.cli.edge": {"edge"}, "hedge.wire.mqtt_settings": {"edge", "sim"},
    "hedge.cloud": {"cloud"}, "hedge.cli.cloud": {"cloud"},
    "hedge.wire.refusals": {"cloud", "owner"},
    "hedge.owner": {"owner"}, "hedge.cli.owner": {"owner"}, "hedge.cli.owner_keys": {"owner"},
    "hedge.report": {"report"},
    "hedge.ml.export": {"export"}, "hedge.cli.model": {"export"},
    "hedge.sim": {"sim"}, "hedge.cli.sim": {"sim"},
    "hedge.demo": {"all"}, "hedge.cli.demo": {"all"}, "hedge.services": {"all"},
}


def extras_of(module: str) -> set[str]:
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        found = _EXTRAS_OF.get(".".join(parts[:end]))
        if found is not None:
            return found
    return {""}


def included(extra: str) -> set[str]:
    """`extra`, the base and every extra it names as hedge[...], transitively."""
    seen = {"", extra}
    for line in PYPROJECT["optional-dependencies"].get(extra, []):
        requirement = Requirement(line)
        if canonicalize_name(requirement.name) == "hedge":
            for inner in requirement.extras:
                seen |= included(inner)
    return seen


def _requirements(name: str, extras: set[str]) -> list[Requirement]:
    """What distribution `name` requires with `extras`, markers evaluated here; for hedge,
    from pyproject.toml."""
    if name == "hedge":
        lines = list(PYPROJECT["dependencies"])
        for extra in extras:
            lines += PYPROJECT["optional-dependencies"][extra]
        extras = set()  # pyproject lists each extra's requirements apart, not by marker
    else:
        lines = metadata.distribution(name).requires or []
    found = []
    for line in lines:
        requirement = Requirement(line)
        marker = requirement.marker
        if marker is None or any(marker.evaluate({"extra": e}) for e in extras | {""}):
            found.append(requirement)
    return found


def closure(extra: str) -> tuple[set[str], set[str]]:
    """(installed distributions the extra needs, hedge included; those it needs but that are
    not installed), as canonical names."""
    done: dict[str, set[str]] = {}
    missing: set[str] = set()
    todo: list[tuple[str, set[str]]] = [("hedge", {extra} - {""})]
    while todo:
        name, extras = todo.pop()
        if name in done and extras <= done[name]:
            continue
        done[name] = done.get(name, set()) | extras
        if name != "hedge":
            try:
                metadata.distribution(name)
            except metadata.PackageNotFoundError:
                missing.add(name)
                continue
        for requirement in _requirements(name, extras):
            todo.append((canonicalize_name(requirement.name), set(requirement.extras)))
    return set(done) - missing, missing


def modules(extra: str) -> list[str]:
    """Every module of hedge that `extra` covers (for 'all': every module)."""
    names = ["hedge", *(m.name for m in pkgutil.walk_packages(hedge.__path__, "hedge."))]
    allowed = included(extra)
    return sorted(m for m in names if extras_of(m) & allowed)


CHILD = r'''
import contextlib, importlib, io, json, sys, traceback
config = json.loads(sys.argv[1])
blocked, known = config["blocked"], set(config["closure_tops"])
refused, missing = set(), set()

class Blocker:
    """First finder: refuses the modules of distributions outside the closure."""
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in blocked:
            refused.add(top)
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: it belongs to "
                                      f"{blocked[top]}, outside the extra)", name=name)
        return None

class Tail:
    """Last finder: asked only when no finder found the module; records the allowed top-level
    modules (libraries probe for optional submodules of their own: not a missing install)."""
    def find_spec(self, name, path=None, target=None):
        if name in known:
            missing.add(name)
        return None

early = sorted({m.partition(".")[0] for m in sys.modules} & set(blocked))
sys.meta_path.insert(0, Blocker())
sys.meta_path.append(Tail())
failed = {}
for module in config["modules"]:
    try:
        importlib.import_module(module)
    except Exception as exc:
        failed[module] = "".join(traceback.format_exception_only(exc)).strip()
cli = {}
for argv in config["cli"]:
    from hedge.cli.main import run
    sys.argv = ["hedge", *argv]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            run()
            code = 0
        except SystemExit as exc:
            code = exc.code
    cli[" ".join(argv)] = [code, out.getvalue() + err.getvalue()]
print(json.dumps({"early": early, "failed": failed, "missing": sorted(missing),
                  "refused": sorted(refused), "cli": cli}))
'''


def import_with_only(extra: str, names: list[str],
                     cli: list[list[str]] | None = None) -> dict[str, Any]:
    """Run CHILD for `extra`: the modules `names` imported, then `hedge ARGV` for each of
    `cli`; its report as a dict."""
    allowed, absent = closure(extra)
    assert not absent, (f"hedge[{extra}] needs {sorted(absent)}, not installed here; install "
                        "hedge[dev] (tasks.py test does)")
    allowed |= {canonicalize_name(n) for n in ALWAYS}
    blocked: dict[str, list[str]] = {}
    tops: set[str] = {"hedge"}
    for top, dists in metadata.packages_distributions().items():
        if top in sys.stdlib_module_names or top == "hedge":
            continue
        if {canonicalize_name(d) for d in dists} & allowed:
            tops.add(top)
        else:
            blocked[top] = sorted(set(dists))
    config = {"blocked": blocked, "closure_tops": sorted(tops), "modules": names,
              "cli": cli or []}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]))
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(config)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


PARTS = [*sorted(set(PYPROJECT["optional-dependencies"]) - TOOLING), ""]


def test_every_extra_of_a_part_of_hedge_is_tested_and_all_holds_them_all() -> None:
    assert {"edge", "cloud", "owner", "all"} <= set(PARTS)
    assert included("all") == set(PARTS)
    assert {e for m in _EXTRAS_OF.values() for e in m} <= set(PARTS)


@pytest.mark.parametrize("extra", PARTS, ids=lambda e: e or "base")
def test_every_module_of_a_part_imports_with_only_its_extra(extra: str) -> None:
    names = modules(extra)
    assert names
    report = import_with_only(extra, names)
    assert not report["early"], f"imported before the blocker: {report['early']}"
    assert not report["failed"], json.dumps(report["failed"], indent=1)
    assert not report["missing"], f"allowed but not installed: {report['missing']}"


def test_the_command_line_starts_with_the_base_alone_and_names_the_extra_a_command_needs(
) -> None:
    stand_ins = {"demo": "all", "owner": "owner", "cloud": "cloud", "edge": "edge", "sim": "sim",
                 "model": "export"}
    report = import_with_only("", ["hedge.cli.main"],
                              [["--help"], ["presets"], *([c, "--help"] for c in stand_ins),
                               ["segment", "report", "segments.json", "--out", "report"]])
    assert not report["failed"], report["failed"]
    code, text = report["cli"]["--help"]
    assert code == 0 and "not installed" in text
    assert "pip install 'hedge[cloud]'" in " ".join(text.replace("│", " ").split())
    assert report["cli"]["presets"][0] == 0
    stand_ins["segment report"] = "report"
    for command, extra in stand_ins.items():
        code, text = report["cli"][next(c for c in report["cli"] if c.startswith(command))]
        assert code == 1, (command, text)
        assert f"`hedge {command}` needs the {extra!r} install extra" in text, text
        assert f"pip install 'hedge[{extra}]'" in text, text


def test_the_blocker_refuses_what_lies_outside_the_extra_and_nothing_inside() -> None:
    report = import_with_only("edge", ["fastapi", "asyncua", "pandas"])
    assert list(report["failed"]) == ["fastapi"]
    assert "blocked" in report["failed"]["fastapi"]
    assert "fastapi" in report["refused"]
