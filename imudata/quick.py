"""The light entry point of ``imudata``: ``list``, ``info NAME``, ``--help`` and ``--version`` without typer.

Typer loads its click copy, pydantic (to coerce parameters) and friends: ~0.3 CPU-s before a
command runs, more than these four commands need in total. They are answered here from the
registry, with the same output and exit codes as the typer app in :mod:`imudata.cli`; anything
else (other commands, ``list --help``, an unknown option, a repeated one) goes to the typer app
unchanged, which also owns every usage error message. The top-level help is rendered from the
source of ``cli.py`` (read with :mod:`ast`, never executed) in click's layout, so a command added
there shows up here without a second list to keep in step (``tests/test_startup.py`` compares
both renderings).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from . import __version__

_OPTIONS = [("--version", "Print the version and exit."), ("--help", "Show this message and exit.")]


def _out(text: str, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def list_output(root: str | os.PathLike[str] | None, as_json: bool) -> None:
    """Print ``imudata list``: one row per dataset and its status under the root (stdout), the root (stderr)."""
    from . import registry
    from .info import status

    rows = []
    for spec in registry.specs():
        state, _ = status(spec, root)
        manual = any(s.manual for s in spec.sources)
        rows.append({"id": spec.id, "title": spec.card.title, "status": state, "manual_download": manual,
                     "streams": {s.name: s.rate_hz for s in spec.card.streams}, "license": spec.card.license})
    if as_json:
        _out(json.dumps(rows, indent=2))
        return
    from .paths import describe_root

    where, origin = describe_root(root)
    _out(f"data root: {where} ({origin})", err=True)
    w = max(len(r["id"]) for r in rows)
    for r in rows:
        rates = ", ".join(f"{k} {v:g} Hz" for k, v in r["streams"].items())
        flag = " (manual download)" if r["manual_download"] else ""
        _out(f"{r['id']:<{w}}  {r['status']:<14}  {r['title']}  [{rates}]{flag}")


def info_output(name: str, root: str | os.PathLike[str] | None, as_json: bool) -> None:
    """Print ``imudata info NAME``: the registry card, or the converted copy's figures."""
    from . import registry
    from .info import render, summary

    data = summary(registry.get(name), root)
    _out(json.dumps(data, indent=2, ensure_ascii=False) if as_json else render(data))


def _parse(args: list[str], positional: int) -> tuple[list[str], str | None, bool] | None:
    """(positional args, --root, --json) when ``args`` use only those, each option at most once; else None.

    The root stays the text given (the functions it goes to take a path or its text alike)."""
    pos: list[str] = []
    root: str | None = None
    seen: set[str] = set()
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--json" and a not in seen:
            seen.add(a)
        elif a == "--root" and a not in seen and i + 1 < len(args):
            seen.add(a)
            i += 1
            root = args[i]
        elif a.startswith("--root=") and "--root" not in seen:
            seen.add("--root")
            root = a[len("--root="):]
        elif not a.startswith("-") and len(pos) < positional:
            pos.append(a)
        else:
            return None
        i += 1
    if len(pos) != positional:
        return None
    return pos, root, "--json" in seen


def _cli_source() -> str | None:
    try:
        return (Path(__file__).resolve().parent / "cli.py").read_text(encoding="utf-8")
    except OSError:
        return None


def commands_from_source(source: str) -> tuple[str, list[tuple[str, str]]]:
    """(the app's help, [(command name, its help)] in typer's order) read from ``cli.py``'s source.

    Commands are functions decorated ``@app.command(...)`` (name: the first argument, else the
    function name with dashes), then the sub-apps of ``app.add_typer(X, name=...)`` with the help
    given to ``X = typer.Typer(help=...)``; hidden ones are left out, as typer does.
    """
    import ast

    tree = ast.parse(source)
    typer_help: dict[str, str] = {}
    commands: list[tuple[str, str]] = []
    groups: list[tuple[str, str]] = []

    def kw(call: ast.Call, key: str) -> Any:
        for k in call.keywords:
            if k.arg == key:
                return ast.literal_eval(k.value)
        return None

    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name) and ast.unparse(node.value.func) == "typer.Typer":
            typer_help[node.targets[0].id] = kw(node.value, "help") or ""
        elif isinstance(node, ast.FunctionDef):
            for d in node.decorator_list:
                if isinstance(d, ast.Call) and ast.unparse(d.func) == "app.command" and not kw(d, "hidden"):
                    name = ast.literal_eval(d.args[0]) if d.args else node.name.replace("_", "-")
                    commands.append((name, kw(d, "help") or ast.get_docstring(node) or ""))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) \
                and ast.unparse(node.value.func) == "app.add_typer":
            sub = node.value.args[0]
            if isinstance(sub, ast.Name) and not kw(node.value, "hidden"):
                groups.append((kw(node.value, "name"), typer_help.get(sub.id, "")))
    return typer_help.get("app", ""), commands + groups


def short_help(text: str, max_length: int) -> str:
    """The first paragraph condensed to ``max_length`` characters, cut at a sentence end or with '...'
    (the rule click applies to each command's line in a group's help)."""
    end = text.find("\n\n")
    words = (text[:end] if end != -1 else text).split()
    if not words:
        return ""
    total, last = 0, len(words) - 1
    for i, word in enumerate(words):
        total += len(word) + (i > 0)
        if total > max_length:
            break
        if word[-1] == ".":
            return " ".join(words[: i + 1])
        if total == max_length and i != last:
            break
    else:
        return " ".join(words)
    total += 3
    while i > 0:
        total -= len(words[i]) + (i > 0)
        if total <= max_length:
            break
        i -= 1
    return " ".join(words[:i]) + "..."


def _wrap(text: str, width: int, indent: str) -> str:
    """Paragraphs re-wrapped to ``width`` with ``indent``, blank lines between them (click's layout)."""
    import textwrap

    paras: list[str] = []
    buf: list[str] = []
    for line in text.expandtabs().splitlines() + [""]:
        if line:
            buf.append(line.strip())
        elif buf:
            paras.append(" ".join(buf))
            buf = []
    w = textwrap.TextWrapper(width, initial_indent=indent, subsequent_indent=indent, replace_whitespace=False)
    return "\n\n".join(w.fill(p) for p in paras)


def _prog() -> str:
    """The program name click shows in 'Usage:' (``imudata``, or ``python -m imudata.cli``)."""
    main = sys.modules.get("__main__")
    path = sys.argv[0]
    package = getattr(main, "__package__", None)
    if package in (None, ""):
        return os.path.basename(path)
    name = os.path.splitext(os.path.basename(path))[0]
    return f"python -m {(package if name == '__main__' else f'{package}.{name}').lstrip('.')}"


def help_text(source: str, prog: str, columns: int) -> str:
    """``imudata --help`` as click renders it for a terminal ``columns`` wide (no trailing newline)."""
    import textwrap

    width = max(min(columns, 80) - 2, 50)
    app_help, commands = commands_from_source(source)
    out = [f"Usage: {prog} [OPTIONS] COMMAND [ARGS]...", ""]
    if app_help:
        out += [_wrap(app_help, width, "  "), ""]

    def dl(rows: list[tuple[str, str]]) -> list[str]:
        first = min(max(len(a) for a, _ in rows), 30) + 2
        lines = []
        for a, b in rows:
            head = f"  {a}" + " " * (first - len(a)) if len(a) <= first - 2 else f"  {a}\n" + " " * (first + 2)
            wrapped = textwrap.wrap(b, max(width - first - 2, 10), replace_whitespace=False) or [""]
            lines.append(head + wrapped[0])
            lines += [" " * (first + 2) + x for x in wrapped[1:]]
        return lines

    out += ["Options:", *dl(_OPTIONS)]
    if commands:
        limit = width - 6 - max(len(n) for n, _ in commands)
        out += ["", "Commands:", *dl([(n, short_help(h, limit)) for n, h in commands])]
    return "\n".join(out)


def _quick_help(err: bool) -> bool:
    import shutil

    source = _cli_source()
    if source is None:
        return False
    _out(help_text(source, _prog(), shutil.get_terminal_size().columns), err=err)
    return True


def run(argv: list[str]) -> int | None:
    """Answer ``argv`` here when it is one of the light commands; the exit code, or None for the typer app."""
    if not argv:
        return 2 if _quick_help(err=True) else None  # no_args_is_help: help on stderr, exit 2
    if argv == ["--help"]:
        return 0 if _quick_help(err=False) else None
    if argv == ["--version"]:
        _out(f"imudata {__version__}")
        return 0
    if argv[0] == "list" and (p := _parse(argv[1:], 0)) is not None:
        list_output(p[1], p[2])
        return 0
    if argv[0] == "info" and (p := _parse(argv[1:], 1)) is not None:
        info_output(p[0][0], p[1], p[2])
        return 0
    return None


def answer(argv: list[str]) -> int | None:
    """``run(argv)`` with the typer app's error handling: one line on stderr and exit 2 for an
    imudata or OS error (IMUDATA_DEBUG=1 for a traceback); None when the typer app must run."""
    from .errors import ImudataError

    try:
        return run(argv)
    except ImudataError as exc:
        if os.environ.get("IMUDATA_DEBUG"):
            raise
        _out(f"error: {exc}", err=True)
        return 2
    except OSError as exc:
        if os.environ.get("IMUDATA_DEBUG"):
            raise
        from .cli import os_error_message

        _out(f"error: {os_error_message(exc)}", err=True)
        return 2
    except KeyboardInterrupt:
        _out("interrupted; re-run the same command to resume", err=True)
        return 130


def main() -> None:
    """Console entry point (``imudata``): the light commands here, everything else through the typer app."""
    code = answer(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from .cli import main as typer_main

    typer_main()
