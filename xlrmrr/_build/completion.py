"""The bash completion script, from the argparse parsers: every command, subcommand and option is
written into the script when it is built, so completing runs no Python at all.

Completes: command names after `xlrmrr`, subcommand names (and positional choices, e.g. `host
snapshot`), each command's options after `-`, the values of options with fixed choices, and file
or directory names for options and positionals that take a path.
"""

from __future__ import annotations

from xlrmrr._build import Command, program, walk

# Metavars naming a directory; every other option value and positional completes as a file name,
# except those below, which are not paths.
DIR_METAVARS = {"DIR"}
NOT_PATHS = {"X.Y[.Z]", "X.Y", "ADDR", "SPEC", "SBDF", "KEY=VALUE", "XL_ARGS", "NAME", "N"}


def _q(words) -> str:
    """Words as one single-quoted bash string."""
    text = " ".join(words)
    return "'" + text.replace("'", "'\\''") + "'"


def _kind(metavar: str | None, choices: tuple) -> str:
    if choices:
        return "choice"
    if metavar is None:
        return "none"
    if metavar in DIR_METAVARS or metavar.endswith("DIR"):
        return "dir"
    if metavar in NOT_PATHS:
        return "word"
    return "file"


def _case_key(cmd: Command) -> str:
    return " ".join(cmd.path[1:]) or "-"


def render() -> str:
    prog = program()
    commands = list(walk(prog))
    lines = [
        "# bash completion for xlrmrr(1). Generated at build time from xlrmrr's argparse",
        "# definitions by `python -m xlrmrr._build bash-completion`; do not edit.",
        "",
        "_xlrmrr_cmd_words() {",
        "    # the (sub)commands in effect at the cursor, e.g. \"host snapshot\"",
        "    local i w key=\"\"",
        "    for ((i = 1; i < COMP_CWORD; i++)); do",
        "        w=${COMP_WORDS[i]}",
        "        [[ $w == -* ]] && continue",
        "        case \"${key:+$key }$w\" in",
    ]
    for cmd in commands[1:]:
        lines.append(f"            {_q([_case_key(cmd)])}) key=\"${{key:+$key }}$w\" ;;")
    lines += [
        "        esac",
        "    done",
        "    printf '%s' \"$key\"",
        "}",
        "",
        "_xlrmrr() {",
        "    local cur prev key opts subs files",
        "    cur=${COMP_WORDS[COMP_CWORD]}",
        "    prev=${COMP_WORDS[COMP_CWORD-1]}",
        "    key=$(_xlrmrr_cmd_words)",
        "    COMPREPLY=()",
        "    # an option's value",
        "    case \"${key:--} $prev\" in",
    ]
    for cmd in commands:
        for group in cmd.groups:
            for opt in group.options:
                if not opt.flags or opt.metavar is None:
                    continue
                kind = _kind(opt.metavar, opt.choices)
                pattern = "|".join(_q([f"{_case_key(cmd)} {f}"]) for f in opt.flags)
                if kind == "choice":
                    action = f"COMPREPLY=($(compgen -W {_q(opt.choices)} -- \"$cur\"))"
                elif kind == "dir":
                    action = "COMPREPLY=($(compgen -d -- \"$cur\"))"
                elif kind == "file":
                    action = "COMPREPLY=($(compgen -f -- \"$cur\"))"
                else:
                    action = ":"
                lines.append(f"        {pattern}) {action}; return ;;")
    lines += [
        "    esac",
        "    case $key in",
    ]
    for cmd in commands:
        opts = sorted(f for g in cmd.groups for o in g.options for f in o.flags)
        subs = [s.path[-1] for s in cmd.subcommands]
        positional = [o for g in cmd.groups for o in g.options if not o.flags]
        for o in positional:
            subs += list(o.choices)
        files = "1" if any(_kind(o.metavar, o.choices) in ("file", "dir") for o in positional) \
            else ""
        key = "\"\"" if cmd is prog else _q([_case_key(cmd)])
        lines.append(f"        {key}) opts={_q(opts)}; subs={_q(subs)}; files={files} ;;")
    lines += [
        "    esac",
        "    if [[ $cur == -* ]]; then",
        "        COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))",
        "        return",
        "    fi",
        "    COMPREPLY=($(compgen -W \"$subs\" -- \"$cur\"))",
        "    if [[ -n $files ]]; then",
        "        COMPREPLY+=($(compgen -f -- \"$cur\"))",
        "    fi",
        "}",
        "complete -o filenames -o bashdefault -F _xlrmrr xlrmrr",
        "",
    ]
    return "\n".join(lines)
