"""What libxlu stores after reading a config file: settings, diagnostics and the return code."""

from __future__ import annotations

from dataclasses import field

from xlrmrr.records import record

# errno values libxlu returns, and the limit of its list storage: one home for the xlcfg modules
ESRCH = 3
EINVAL = 22
ERANGE = 34
INT_MAX = 2 ** 31 - 1
LIST_ERANGE_AT = 4 ** 13     # xlu__cfg_list_append: avalues grows x4 until > INT_MAX/100

PYTHON_WARNING = ("warning: Config file looks like it contains Python code.\n"
                  "warning:  Arbitrary Python is no longer supported.\n"
                  "warning:  See https://wiki.xen.org/wiki/PythonInXlConfig\n")

# A value is a str (XLU_STRING) or a list of values (XLU_LIST), nested to any depth.


@record(eq=False)
class Setting:
    """One assignment as libxlu keeps it (XLU_ConfigSetting)."""

    kind: str            # "string" | "list"
    value: object        # str, or a list of values
    line: int            # line of the first token of the value
    op: str = "="        # "=" | "+="

    def to_json_text(self, ensure_ascii: bool = True) -> str:
        return (f'{{"kind": "{self.kind}", "value": {value_json(self.value, ensure_ascii)}, '
                f'"line": {self.line}, "op": "{self.op}"}}')


@record(eq=False)
class ConfigParse:
    """The result of xlu_cfg_readdata on one file.

    `settings` is what xl can read (last assignment wins), empty when the parse failed;
    `partial_settings` is what libxlu had stored before the first error (undefined per its API,
    shown for explanation only). `diagnostics` is exactly what libxlu prints to its report stream.
    """

    source: str
    ok: bool
    rc: int                                   # 0 or an errno (EINVAL, ERANGE)
    settings: dict = field(default_factory=dict)
    partial_settings: dict = field(default_factory=dict)
    history: tuple = ()                       # (name, Setting) in file order, shadowed included
    diagnostics: str = ""
    likely_python: bool = False
    aborted: bool = False                     # libxlu would SIGABRT (xl dies, no message)
    abort_reason: str = ""
    # What xl's readings of this parse have in common, kept for the next reading (the release
    # comparison reads one file as up to a dozen releases): xlparse's pci= entries per parser
    # and inherited fields. A cache, never part of the parse's value.
    readings: dict = field(default_factory=dict, repr=False)

    def get(self, name: str) -> Setting | None:
        return self.settings.get(name)


def _plain(v: str) -> bool:
    """A string json.dumps gives back between quotes unchanged: printable ASCII (no control
    character), no quote, no backslash."""
    return v.isascii() and v.isprintable() and '"' not in v and "\\" not in v


def value_json(v, ensure_ascii: bool = True) -> str:
    """JSON text of a value, without recursion (a list may be nested thousands deep). A plain
    string (_plain) is written without json, so that `xlrmrr cfg` of an ordinary file never
    imports it."""
    if isinstance(v, str):
        return f'"{v}"' if _plain(v) else _dumps(v, ensure_ascii)
    out: list[str] = []
    stack: list = [iter((v,))]
    first = [True]
    while stack:
        try:
            cur = next(stack[-1])
        except StopIteration:
            stack.pop()
            first.pop()
            if stack:
                out.append("]")
            continue
        if not first[-1]:
            out.append(", ")
        first[-1] = False
        if isinstance(cur, list):
            out.append("[")
            stack.append(iter(cur))
            first.append(True)
        else:
            out.append(f'"{cur}"' if isinstance(cur, str) and _plain(cur)
                       else _dumps(cur, ensure_ascii))
    return "".join(out)


def _dumps(v, ensure_ascii: bool) -> str:
    import json

    return json.dumps(v, ensure_ascii=ensure_ascii)
