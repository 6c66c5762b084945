"""The "Adding an ESP" guide works as written, for a contributor who has only the guide.

docs/guides/adding-an-esp.md writes a whole ESP package, ExampleMail, in MyST code
blocks whose caption is the file's path in the repository::

    ```{code-block} python
    :caption: packages/anymail-examplemail/src/anymail/esps/examplemail.py

    ...
    ```

(a caption ending in " (continued)" continues the file of the block just before).
This test writes those files into a temporary directory, makes the package
importable without installing it (its ``src`` on PYTHONPATH, beside a
``.dist-info`` carrying the entry points of the guide's pyproject.toml, which is
what ``importlib.metadata`` reads), and runs in subprocesses what the guide says to
run outside this repository:

1. the conformance suite for the package, with the suite's own Django settings (as
   ``python -m anymail_conformance`` runs it), which must report every declared
   feature cell, event type and webhook guarantee proved;
2. the package's own tests.

Both run with the package's own pytest configuration (``-c pyproject.toml``): this
environment's anymail_conformance is an editable install inside this repository,
whose pyproject.toml and conftest.py would otherwise configure the run (settings,
fixtures and a database for every test) as they never would for a package
elsewhere.

Every file the guide writes must be used: each module under ``src/`` imported by
the suite, each fixture posted by it, each test file run, pyproject.toml's entry
points, name and version what Anymail finds, README.md the page the description's
``docs_url`` names, and CHANGELOG.md's heading what the release check wants. The
fixtures must be the samples the guide publishes as ExampleMail's documentation.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from anymail.features import FEATURE_SPECS

REPO = Path(__file__).resolve().parent.parent
GUIDE = REPO / "docs" / "guides" / "adding-an-esp.md"
PACKAGE = "packages/anymail-examplemail"
ESP_ID = "examplemail"
ESP_NAME = "ExampleMail"
CONTINUED = " (continued)"
#: the guide's section that is ExampleMail's documentation, and its address on the site
API_SECTION = "The ExampleMail API"
API_PAGE = "https://anymail.readthedocs.io/en/latest/guides/adding-an-esp.html#the-examplemail-api"
#: seconds a subprocess may take before the test gives up on it
TIMEOUT = 300

#: A MyST code-block directive: its fence (closed by the same fence), its options
#: (":caption: ..."), then the code after a blank line.
CODE_BLOCK = re.compile(
    r"^(?P<fence>`{3,})\{code-block\}[ \t]*(?P<language>\S*)[ \t]*\n"
    r"(?P<options>(?::[\w-]+:[^\n]*\n)*)\n?"
    r"(?P<code>.*?)"
    r"^(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
OPTION = re.compile(r"^:([\w-]+):[ \t]*(.*)$", re.MULTILINE)

#: pytest plugin for the suite's run: which of the package's modules were imported
PROBE = """
import json, os, sys

def pytest_sessionfinish(session, exitstatus):
    root = os.path.realpath(os.environ["GUIDE_PACKAGE_SRC"])
    imported = sorted({
        os.path.realpath(module.__file__)
        for module in list(sys.modules.values())
        if getattr(module, "__file__", None)
        and os.path.realpath(module.__file__).startswith(root + os.sep)
    })
    with open(os.environ["GUIDE_PROBE_OUTPUT"], "w") as file:
        json.dump(imported, file)
"""

#: What Anymail reads of the package: its description, found through its entry
#: point, and its distribution's version.
DESCRIBE = f"""
import json
from importlib import metadata
from anymail.registry import get_esp

esp = get_esp({ESP_ID!r})
print(json.dumps({{
    "docs_url": esp.docs_url,
    "distribution": esp.distribution,
    "version": metadata.version(esp.distribution),
}}))
"""

SUMMARY = re.compile(
    rf"^{ESP_NAME}: (\d+)/(\d+) declared feature cells proved; "
    r"(\d+)/(\d+) declared event types proved by fixtures$",
    re.MULTILINE,
)
GUARANTEES = re.compile(
    r"^  webhook guarantees proved: .*\((\d+)/(\d+); retry answer \d+\)$", re.MULTILINE
)


def guide_files(text: str) -> dict[str, str]:
    """{path in the package: content} of every code block the guide captions with a
    path in the example package, continued blocks joined to their file."""
    parts: dict[str, list[str]] = {}
    previous = None
    for block in CODE_BLOCK.finditer(text):
        options = dict(OPTION.findall(block["options"]))
        caption = options.get("caption", "")
        if not caption.startswith("packages/"):
            continue
        continued = caption.endswith(CONTINUED)
        path = caption.removesuffix(CONTINUED)
        assert path.startswith(PACKAGE + "/"), f"a file outside the example package: {caption}"
        relative = path.removeprefix(PACKAGE + "/")
        if continued:
            assert relative == previous, f"{caption!r} doesn't follow a block of {path}"
            parts[relative].append(block["code"])
        else:
            assert relative not in parts, f"two blocks are {path} (the second: '{CONTINUED}'?)"
            parts[relative] = [block["code"]]
        previous = relative
    # Continued parts are top-level sections of a module: two blank lines between.
    return {
        path: "\n\n\n".join(part.strip("\n") for part in pieces) + "\n"
        for path, pieces in parts.items()
    }


@dataclass
class Run:
    returncode: int
    output: str
    #: (name, classname, outcome) of each test, from --junitxml
    tests: list[tuple[str, str, str]] = field(default_factory=list)

    def describe(self) -> str:
        return f"exit {self.returncode}; output ends:\n{self.output[-6000:]}"

    def count(self, outcome: str) -> int:
        return sum(1 for _, _, result in self.tests if result == outcome)


@dataclass
class Example:
    root: Path  #: the package's directory
    files: dict[str, str]
    project: dict
    suite: Run
    package_tests: Run
    imported: set[Path]
    #: what Anymail reads of the package (DESCRIBE)
    description: dict


def junit_tests(path: Path) -> list[tuple[str, str, str]]:
    tests = []
    # (pytest's own report, written in our temporary directory)
    for case in ET.parse(path).getroot().iter("testcase"):  # noqa: S314
        outcomes = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        tests.append((case.get("name", ""), case.get("classname", ""), (outcomes or ["passed"])[0]))
    return tests


def run_pytest(args: list[str], cwd: Path, env: dict[str, str], junit: Path) -> Run:
    result = subprocess.run(  # noqa: S603 (this interpreter, our arguments)
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--junitxml={junit}", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    tests = junit_tests(junit) if junit.exists() else []
    return Run(result.returncode, result.stdout + result.stderr, tests)


def write_dist_info(site: Path, project: dict, readme: str) -> None:
    """What installing the package would record for importlib.metadata: its name,
    version, requirements and README, and its entry points."""
    name, version = project["name"], project["version"]
    dist_info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir(parents=True)
    metadata = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    metadata += [f"Requires-Dist: {requirement}" for requirement in project["dependencies"]]
    metadata += ["Description-Content-Type: text/markdown", "", readme]
    (dist_info / "METADATA").write_text("\n".join(metadata), encoding="utf-8")
    entry_points = []
    for group, entries in project["entry-points"].items():
        entry_points.append(f"[{group}]")
        entry_points += [f"{entry} = {target}" for entry, target in entries.items()]
        entry_points.append("")
    (dist_info / "entry_points.txt").write_text("\n".join(entry_points), encoding="utf-8")


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Example:
    """The guide's package, written out, run through the suite and its own tests."""
    tmp = tmp_path_factory.mktemp("adding-an-esp")
    files = guide_files(GUIDE.read_text(encoding="utf-8"))
    assert "pyproject.toml" in files, "the guide's package has no pyproject.toml"
    root = tmp / PACKAGE
    for path, content in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(content, encoding="utf-8")
    project = tomllib.loads(files["pyproject.toml"])["project"]
    site = tmp / "site"
    write_dist_info(site, project, files.get(project.get("readme", ""), ""))
    probe = tmp / "probe"
    probe.mkdir()
    (probe / "adding_an_esp_probe.py").write_text(PROBE, encoding="utf-8")

    env = {
        key: value
        for key, value in os.environ.items()
        # (pytest-django set DJANGO_SETTINGS_MODULE to this repository's test project)
        if key not in ("DJANGO_SETTINGS_MODULE", "PYTEST_ADDOPTS", "PYTEST_PLUGINS")
    }
    env["PYTHONPATH"] = os.pathsep.join(
        [str(site), str(root / "src"), str(probe), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    env["GUIDE_PACKAGE_SRC"] = str(root / "src")
    env["GUIDE_PROBE_OUTPUT"] = str(tmp / "imported.json")
    own_config = ["-c", "pyproject.toml", "--ds=anymail_conformance.settings"]
    suite = run_pytest(
        [*own_config, "-p", "adding_an_esp_probe", "--pyargs", "anymail_conformance", "-k", ESP_ID],
        root,
        env,
        tmp / "suite.xml",
    )
    package_tests = run_pytest([*own_config, "tests"], root, env, tmp / "tests.xml")
    described = subprocess.run(  # noqa: S603 (this interpreter, our arguments)
        [sys.executable, "-c", DESCRIBE],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert described.returncode == 0, described.stderr
    probe_output = tmp / "imported.json"
    imported = (
        {Path(path) for path in json.loads(probe_output.read_text())}
        if probe_output.exists()
        else set()
    )
    return Example(
        root, files, project, suite, package_tests, imported, json.loads(described.stdout)
    )


def test_the_guide_writes_every_file_of_the_layout():
    files = guide_files(GUIDE.read_text(encoding="utf-8"))
    expected = {
        "pyproject.toml",
        "README.md",
        "CHANGELOG.md",
        f"src/anymail/esps/{ESP_ID}.py",
        f"src/anymail/backends/{ESP_ID}.py",
        f"src/anymail/webhooks/{ESP_ID}.py",
        f"src/anymail/conformance/{ESP_ID}/profile.py",
        f"tests/test_{ESP_ID}_backend.py",
        f"tests/test_{ESP_ID}_webhooks.py",
    }
    assert expected <= set(files), sorted(expected - set(files))
    fixtures = [
        path for path in files if path.startswith(f"src/anymail/conformance/{ESP_ID}/fixtures/")
    ]
    assert fixtures, "the guide's package has no webhook fixture"
    assert not any(path.endswith("__init__.py") for path in files), (
        "anymail's namespace packages have no __init__.py"
    )


def test_the_fixtures_are_the_samples_the_guide_publishes():
    """For the fictional ESP, the guide is the published documentation: each fixture
    posts one of the samples of its "The ExampleMail API" section, and cites it."""
    text = GUIDE.read_text(encoding="utf-8")
    section = text.split(f"\n## {API_SECTION}\n", 1)[1].split("\n## ", 1)[0]
    samples = [
        json.loads(code) for code in re.findall(r"^```json\n(.*?)^```$", section, re.M | re.S)
    ]
    assert samples, f"no JSON sample in the guide's section {API_SECTION!r}"
    fixtures = {
        path: json.loads(content)
        for path, content in guide_files(text).items()
        if path.startswith(f"src/anymail/conformance/{ESP_ID}/fixtures/")
    }
    assert fixtures
    for path, fixture in fixtures.items():
        assert fixture["request"]["json"] in samples, f"{path} isn't a sample the guide publishes"
        assert fixture["source"]["page"] == API_PAGE, path
    assert {json.dumps(sample) for sample in samples} == {
        json.dumps(fixture["request"]["json"]) for fixture in fixtures.values()
    }, "a published sample that no fixture posts"


def test_the_conformance_suite_proves_every_declared_cell(example):
    suite = example.suite
    assert suite.returncode == 0, suite.describe()
    assert suite.count("passed") > 0, suite.describe()  # (exit code 5 is "no tests ran")
    assert (suite.count("failure"), suite.count("error"), suite.count("skipped")) == (0, 0, 0)
    summary = SUMMARY.search(suite.output)
    assert summary, f"no summary line for {ESP_NAME}: {suite.describe()}"
    features, declared_features, events, declared_events = map(int, summary.groups())
    assert declared_features == len(FEATURE_SPECS)
    assert features == declared_features, summary.group(0)
    assert declared_events > 0
    assert events == declared_events, summary.group(0)
    guarantees = GUARANTEES.search(suite.output, summary.end())
    assert guarantees, suite.describe()
    held, total = map(int, guarantees.groups())
    assert held == total, guarantees.group(0)
    assert "unproved" not in suite.output[summary.start() :], suite.describe()
    # ... and the guide shows the summary as it is.
    shown = [
        line
        for line in GUIDE.read_text(encoding="utf-8").splitlines()
        if SUMMARY.match(line) or GUARANTEES.match(line)
    ]
    assert shown == [summary.group(0), guarantees.group(0)], suite.describe()


def test_the_package_tests_from_the_guide_pass(example):
    tests = example.package_tests
    assert tests.returncode == 0, tests.describe()
    assert tests.count("passed") > 0, tests.describe()
    assert (tests.count("failure"), tests.count("error"), tests.count("skipped")) == (0, 0, 0)


def test_every_file_the_guide_writes_is_used(example, monkeypatch):
    """No orphan snippet: each file block does its part in the runs above."""
    # The release scripts (standard library only) import each other by module name.
    monkeypatch.syspath_prepend(str(REPO / "scripts"))
    from monorepo import load_package
    from release_check import changelog_heading

    fixtures_dir = f"src/anymail/conformance/{ESP_ID}/fixtures/"
    posted = {
        name
        for name, _, outcome in example.suite.tests
        if outcome == "passed" and name.startswith("test_fixture_produces_expected_events[")
    }
    used = {}
    for path in example.files:
        if path.startswith("src/") and path.endswith(".py"):
            used[path] = (example.root / path).resolve() in example.imported
        elif path.startswith(fixtures_dir) and path.endswith(".json"):
            stem = Path(path).stem
            used[path] = any(name.endswith(f"-{ESP_ID}-{stem}]") for name in posted)
        elif path.startswith("tests/") and path.endswith(".py"):
            module = Path(path).stem
            used[path] = any(
                outcome == "passed" and module in classname.split(".")
                for _, classname, outcome in example.package_tests.tests
            )
        elif path == "pyproject.toml":
            # Its entry points found the ESP and its profile; its name and version.
            groups = example.project["entry-points"]
            used[path] = (
                ESP_ID in groups.get("anymail.esps", {})
                and ESP_ID in groups.get("anymail_conformance.profiles", {})
                and example.description["distribution"] == example.project["name"]
                and example.description["version"] == example.project["version"]
            )
        elif path == "README.md":
            # The package's PyPI description, and its page (the derived docs_url).
            readme_url = f"https://github.com/anymail/anymail/tree/main/{PACKAGE}#readme"
            used[path] = (
                example.project.get("readme") == path
                and example.description["docs_url"] == readme_url
            )
        elif path == "CHANGELOG.md":
            used[path] = changelog_heading(load_package(example.root)) is not None
        else:
            used[path] = False
    assert used, "the guide marks no file of the example package"
    unused = sorted(path for path, was_used in used.items() if not was_used)
    assert not unused, f"files of the guide that the runs didn't use: {unused}"


def test_the_example_package_passes_ruff(example):
    # ruff is a dependency of the test environments (hatch.toml), as of the lint one.
    for command in (["check"], ["format", "--check"]):
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "ruff", *command, "--config", str(REPO / "pyproject.toml"), "."],
            cwd=example.root,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
