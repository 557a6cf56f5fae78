"""Guests as administrators keep them (a reader: the only I/O here is looking at files below
a root): a name under /etc/xen, every config in a directory, and the guests xendomains starts.

Every path is taken below `root` ("/" on the host itself; a test tree or a chroot otherwise),
the way `host snapshot --root` reads /sys.
"""

from __future__ import annotations

import os

from xlrmrr.common import InputError

XEN_DIR = "/etc/xen"
# xendomains sources exactly one of these (tools/hotplug/Linux/xendomains.in: XENDOM_CONFIG is
# @CONFIG_DIR@/@CONFIG_LEAF_DIR@/xendomains, "default" on Debian, "sysconfig" on RPM systems).
XENDOMAINS_CONFIGS = ("/etc/default/xendomains", "/etc/sysconfig/xendomains")
XENDOMAINS_AUTO = "/etc/xen/auto"       # the default in sysconfig.xendomains


def under(root: str | None, path: str) -> str:
    """`path` (absolute, as on the host) below `root`."""
    return path if root in (None, "", "/") else os.path.join(root, path.lstrip("/"))


def resolve_config(name: str, root: str | None = None) -> tuple[str, str | None]:
    """(path, note): `name` itself when it exists; else /etc/xen/NAME.cfg, then /etc/xen/NAME
    (below root) for a bare name, with a note saying which file is used. xl reads only the
    path it is given, so the caller hands xl the returned path."""
    if os.path.exists(name) or "/" in name or name in ("", ".", ".."):
        return name, None
    tried = [under(root, f"{XEN_DIR}/{name}.cfg"), under(root, f"{XEN_DIR}/{name}")]
    for path in tried:
        if os.path.isfile(path):
            return path, (f"{name} is not a file here; using {path} (xl itself reads only the path "
                          f"it is given, so xlrmrr gives it this one)")
    raise InputError(f"{name}: no such file, and neither {tried[0]} nor {tried[1]} exists "
                     f"(xl itself reads only the path it is given)")


def configs_in(directory: str, pattern: str = "*.cfg") -> list[str]:
    """The files of `directory` matching `pattern` (fnmatch; dot files never), sorted as the
    shell's glob sorts them in the C locale. A missing directory is bad input."""
    import fnmatch

    try:
        names = os.listdir(directory)
    except OSError as e:
        raise InputError(f"{directory}: cannot list it: {e.strerror}") from None
    out = []
    for n in sorted(names):
        if n.startswith(".") or not fnmatch.fnmatchcase(n, pattern):
            continue
        path = os.path.join(directory, n)
        if os.path.isfile(path):        # a dangling link or a subdirectory is no guest
            out.append(path)
    return out


def _shell_value(text: str, where: str) -> str | None:
    """The value of a simple shell assignment's right-hand side ('...', "...", or a bare
    word); None when it needs the shell ($, `, \\ expansions)."""
    text = text.strip()
    if text.startswith("'"):
        end = text.find("'", 1)
        return text[1:end] if end > 0 else None
    if text.startswith('"'):
        end = text.find('"', 1)
        value = text[1:end] if end > 0 else None
    else:
        value = text.split("#", 1)[0].split(None, 1)[0] if text.split("#", 1)[0].strip() else ""
    if value is None or any(c in value for c in "$`\\"):
        return None
    return value


def xendomains_auto(root: str | None = None) -> tuple[str, str]:
    """(directory, how it was found): XENDOMAINS_AUTO as the xendomains script sees it after
    sourcing /etc/default/xendomains (Debian) or /etc/sysconfig/xendomains (RPM systems), the
    last assignment winning; /etc/xen/auto when neither sets it. "" means autostart is off
    (the sysconfig file: "Leave empty if you don't want to start domains automatically")."""
    for conf in XENDOMAINS_CONFIGS:
        path = under(root, conf)
        try:
            with open(path, "rb") as f:
                text = f.read(1 << 20).decode("latin-1")
        except FileNotFoundError:
            continue
        except OSError as e:
            raise InputError(f"{path}: cannot read it: {e.strerror}") from None
        value, line_no = None, 0
        for n, line in enumerate(text.splitlines(), 1):
            s = line.strip()
            if s.startswith("export "):
                s = s[7:].lstrip()
            if s.startswith("XENDOMAINS_AUTO="):
                value, line_no = _shell_value(s[len("XENDOMAINS_AUTO="):], f"{path}:{n}"), n
                if value is None:
                    raise InputError(f"{path}:{n}: XENDOMAINS_AUTO needs the shell to expand it; "
                                     f"give the directory with `check DIR` instead")
        if value is None:
            return under(root, XENDOMAINS_AUTO), f"{conf} does not set XENDOMAINS_AUTO: the default"
        if value == "":
            return "", f"{conf}:{line_no} sets XENDOMAINS_AUTO empty: no guest is started automatically"
        return under(root, value), f"XENDOMAINS_AUTO in {conf}:{line_no}"
    return under(root, XENDOMAINS_AUTO), "no xendomains config file: the default"


def auto_configs(root: str | None = None) -> tuple[list[str], str]:
    """(config files, note): what `xendomains start` creates: every file in XENDOMAINS_AUTO
    (`for dom in $XENDOMAINS_AUTO/*`: not only *.cfg, dot files never), in glob order. A
    missing directory starts nothing, as in the script (contains_something fails)."""
    directory, how = xendomains_auto(root)
    if not directory:
        return [], how
    if not os.path.isdir(directory):
        return [], f"{directory} ({how}) does not exist: xendomains starts no guest"
    return configs_in(directory, "*"), f"{directory} ({how})"
