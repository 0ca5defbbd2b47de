"""The README and docs/ stay true: every shell command they show names a module, script or
file that exists and flags its --help lists, every `--set name=value` of the node names a
parameter, every `ros2 launch` argument is declared, and every relative link leads to a file.
The commands are not run (they train, download or need ROS 2); what they name is checked."""
from __future__ import annotations

import functools
import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# files the commands write or read from the user's machine, not from the repository
OUTSIDE = ("runs/", "data/", "/", "~", "src/", "install/", "CKPT", "<")
REPO_FOLDERS = ("config/", "checkpoints/", "benchmarks/", "train/", "scripts/", "launch/", "docs/", "test/")
# shell wrappers: which module each runs (the test checks the wrapper still says so)
WRAPPERS = {"demo.sh": "cicld_ros.demo", "test.sh": "pytest"}
README_LINES = 250


def shell_commands(page: Path) -> list[str]:
    """The commands in a page's ```bash blocks: continuations joined, comments dropped."""
    commands = []
    for block in re.findall(r"```(?:bash|sh|shell)\n(.*?)```", page.read_text(), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.split(r"\s#", " " + line, maxsplit=1)[0].strip()
            commands += [part.strip() for part in line.split("&&") if part.strip()]
    return commands


def python_invocations() -> list[tuple[str, list[str], str]]:
    """(what runs: "-m module" or a script path, its arguments, the page) for every command that
    runs this repository's Python code."""
    found = []
    for page in PAGES:
        for command in shell_commands(page):
            words = shlex.split(command.replace("[", "").replace("]", "")) if "'" not in command \
                else shlex.split(command)
            while words and words[0] in ("time", "sudo", "nice"):
                words = words[1:]
            if not words:
                continue
            if words[0] == "bash" and len(words) > 1 and words[1] in WRAPPERS:
                found.append((f"wrapper {words[1]}", words[2:], page.name))
            elif words[0] == "torchrun":
                script = next(w for w in words[1:] if w.endswith(".py"))
                found.append((script, words[words.index(script) + 1:], page.name))
            elif Path(words[0]).name in ("python", "python3") or words[0].endswith("/bin/python"):
                if words[1] == "-m":
                    found.append((f"-m {words[2]}", words[3:], page.name))
                elif words[1].endswith(".py"):
                    found.append((words[1], words[2:], page.name))
    return found


def test_the_readme_is_short_and_the_docs_are_where_it_says():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= README_LINES
    for page in ("install", "node", "model", "training", "replay", "benchmarks", "data", "design"):
        assert f"docs/{page}.md" in readme, f"the README does not link docs/{page}.md"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_leads_to_a_file(page):
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # http:, https:, mailto:
        assert (page.parent / target).exists(), f"{page.name} links {target}, which does not exist"


def test_the_pages_show_commands_and_their_wrappers_run_what_they_say():
    invocations = python_invocations()
    assert len(invocations) > 20, "the command extraction found almost nothing: is the block syntax still ```bash?"
    for wrapper, module in WRAPPERS.items():
        assert f"-m {module}" in (ROOT / wrapper).read_text(), f"{wrapper} no longer runs {module}"


@functools.lru_cache(maxsize=None)
def help_text(target: str, subcommand: str | None) -> str:
    argv = [sys.executable, *target.split(), *([subcommand] if subcommand else []), "--help"]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(argv[1:])} --help failed:\n{done.stderr[-2000:]}"
    return done.stdout


def runnable(what: str) -> str:
    """The command line for --help: a module (-m name), a script path, or what a wrapper runs."""
    if what.startswith("wrapper "):
        return f"-m {WRAPPERS[what.split()[1]]}"
    return what


INVOCATIONS = python_invocations()


@pytest.mark.parametrize("what,arguments,page", INVOCATIONS,
                         ids=[f"{page}:{what}" for what, _, page in INVOCATIONS])
def test_each_command_names_what_exists_and_flags_its_help_lists(what, arguments, page):
    target = runnable(what)
    if target.startswith("-m "):
        module = target.split()[1]
        if module in ("pytest", "colcon", "venv"):
            return  # not this repository's
        assert importlib.util.find_spec(module) is not None, f"{page}: module {module} does not exist"
    else:
        assert (ROOT / target).is_file(), f"{page}: {target} does not exist"
    subcommand = arguments[0] if arguments and re.fullmatch(r"[a-z][a-z_-]*", arguments[0]) else None
    text = help_text(target, subcommand)
    for word in arguments:
        flag = word.split("=", 1)[0]
        if flag.startswith("--"):
            assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text), \
                f"{page}: `{target}` has no {flag} (its --help does not list it)"
        elif word.startswith(REPO_FOLDERS):
            assert (ROOT / word).exists(), f"{page}: {word} does not exist in the repository"


def test_node_settings_and_launch_arguments_in_the_pages_exist():
    from cicld_ros.segmentation.params import FIELDS
    from cicld_ros.transports.rclpy.launch_args import LAUNCH_ARGUMENTS

    sets = launches = 0
    for page in PAGES:
        for command in shell_commands(page):
            if "cicld_ros.node" in command:
                for name in re.findall(r"--set\s+'?([a-z_]+)=", command):
                    assert name in FIELDS, f"{page.name}: --set {name}: the node has no such parameter"
                    sets += 1
            if command.startswith("ros2 launch"):
                words = command.split()
                assert words[2:4] == ["cicld_ros", "segment.launch.py"], command
                assert (ROOT / "launch" / words[3]).is_file()
                for name in re.findall(r"\s([a-z_]+):=", command):
                    assert name in LAUNCH_ARGUMENTS, f"{page.name}: launch argument {name} is not declared"
                    launches += 1
    assert sets and launches
