"""`xlrmrr create GUEST.cfg --dry-run`: plan the guest through libxl, libxc, the hypervisor and
hvmloader, explain the memory layout, and (without --dry-run) run `xl create` when it is clean."""

from __future__ import annotations

import argparse

from xlrmrr.cli import Formatter, add_common
from xlrmrr.cli.hostargs import add_host_arguments  # argparse only: cheap

HELP = "plan a guest's memory layout around the host's RMRRs, then (optionally) xl create it"
DESCRIPTION = """\
Reproduce what `xl create GUEST.cfg` would do with the host's reserved device memory: which RMRRs
libxl selects and with which policy, where the end of low RAM moves, what fails (strict) or is
silently dropped (relaxed), the XENMEM_set_memory_map payload, the pages libxc populates, the
hvm_info table, device assignment, hvmloader's BAR placement and the guest's final e820; with
config changes that fix each problem, each one checked by planning again.

Without --xen-version the release the host data was collected under (snapshot or host JSON) is
modelled, else the running hypervisor's, else the newest; the report compares the outcome with
every release band (4.6, 4.7, 4.8-4.9, 4.10-4.11, 4.12, 4.13, 4.14, 4.15, 4.16, 4.17-4.18,
4.19-4.20, 4.21, 4.22; a line whose point release xl reads differently, 4.14.5, 4.15.3 or
4.16.1 reading rdm= before pci= again, in two rows) and says where it differs. Out of scope:
AMD IVMD ranges (reported by Xen from 4.16; xlrmrr reads Intel DMAR tables only) and PVH ACPI
module typing (4.21; passthrough is planned for HVM guests only).

With --dry-run nothing is created. Without it, a clean plan runs `xl create GUEST.cfg XL_ARGS...`
(no shell) and returns its exit status; a blocked plan does not run it.
"""

EMIT_FILES = ("hvm_info.bin", "memory_map.bin", "e820.bin", "plan.json")


def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _add_options(p) -> None:
    p.add_argument("-n", "--dry-run", action="store_true",
                   help="only plan and report; never run xl (xl create's own -n is the same idea)")
    add_common(p)
    p.add_argument("--emit", metavar="DIR",
                   help="write hvm_info.bin, memory_map.bin, e820.bin and plan.json into DIR, all or "
                        "nothing (created if missing; only these four names are ever touched, and only "
                        "files an earlier --emit wrote, unless --force; a payload the plan does not "
                        "reach, e.g. after a libxl failure, is removed, not left stale)")
    p.add_argument("--force", action="store_true",
                   help="with --emit: replace those names in DIR even if xlrmrr did not write them")
    add_host_arguments(p)
    g = p.add_argument_group("modelling parameters (firmware-build dependent; defaults documented)")
    g.add_argument("--no-hap", action="store_true",
                   help="the host has no HAP (EPT): libxl's default is then shadow paging")
    g.add_argument("--bios-base", type=_int, metavar="ADDR",
                   help="hvmloader's BIOS image base (default: SeaBIOS 0xe0000, OVMF 0xf0000)")
    g.add_argument("--acpi-end", type=_int, metavar="ADDR",
                   help="end of hvmloader's ACPI area (default 0xfc00a000)")
    g.add_argument("--allow-degraded", action="store_true",
                   help="without --dry-run: run xl create even if an RMRR would not be honoured")


def add_arguments(p):
    _add_options(p)
    p.add_argument("config", metavar="GUEST.cfg", help="the guest's xl config file")
    p.add_argument("xl_args", nargs=argparse.REMAINDER, metavar="XL_ARGS",
                   help="KEY=VALUE items change the config as xl does and are passed to `xl create`; "
                        "xl's own options go after --")


def _split_rest(args) -> list:
    """Options written after GUEST.cfg are ours; KEY=VALUE items and everything after -- go to xl."""
    from xlrmrr.common import InputError

    rest = list(args.xl_args or [])
    if "--" in rest:
        i = rest.index("--")
        before, after = rest[:i], rest[i + 1:]
    else:
        before, after = rest, []
    if not before:
        return after
    parser = argparse.ArgumentParser(prog="xlrmrr create", add_help=False, exit_on_error=False,
                                     formatter_class=Formatter)
    _add_options(parser)
    try:
        _ns, extra = parser.parse_known_args(before, namespace=args)
    except argparse.ArgumentError as e:
        args.json = args.json or "--json" in before     # not reached by the parse it stopped
        raise InputError(str(e)) from None
    unknown = [a for a in extra if a.startswith("-")]
    if unknown:
        raise InputError(f"unrecognized option {unknown[0]}; put xl create's own options after --")
    return extra + after


def _config_data(raw: bytes, xl_args) -> bytes:
    """xl create appends "\\n" + each KEY=VALUE argument + "\\n" to the file (xl_vmcontrol.c)."""
    extra = [a for a in xl_args if "=" in a and not a.startswith("-")]
    if not extra:
        return raw
    return raw + b"\n" + b"".join(a.encode() + b"\n" for a in extra) + b"\n"


def _firmware_sizes(domain, findings):
    import os

    from xlrmrr.common import Finding

    out = []
    for kind in ("acpi_firmware", "smbios_firmware"):
        path = getattr(domain, kind, None)
        if not path:
            continue
        try:
            out.append((kind, os.stat(path).st_size))
        except OSError as e:
            findings.append(Finding("warning", "firmware-unreadable", "libxl",
                                    f"{kind}={path!r}: cannot read it here ({e.strerror}); its placement "
                                    f"is not checked against the RDMs"))
    return tuple(out)


EMIT_MARK = "xlrmrr_emitted"     # plan.json key: sha256 of each payload written with it


def _emitted_by_us(directory: str) -> set:
    """The names in DIR that xlrmrr wrote and nobody changed since: plan.json carries the
    sha256 of each payload written with it."""
    import hashlib
    import json
    import os

    try:
        with open(os.path.join(directory, "plan.json"), "rb") as f:
            mark = json.loads(f.read(1 << 26)).get(EMIT_MARK)
    except (OSError, ValueError, AttributeError, RecursionError):
        return set()
    if not isinstance(mark, dict):
        return set()
    ours = {"plan.json"}
    for name, digest in mark.items():
        if name not in EMIT_FILES:
            continue
        try:
            with open(os.path.join(directory, name), "rb") as f:
                if hashlib.sha256(f.read()).hexdigest() == digest:
                    ours.add(name)
        except OSError:
            pass
    return ours


def _with_mark(files: dict) -> dict:
    import hashlib
    import json

    plan = json.loads(files["plan.json"])
    plan[EMIT_MARK] = {n: hashlib.sha256(b).hexdigest() for n, b in files.items() if n != "plan.json"}
    return {**files, "plan.json": (json.dumps(plan, indent=2) + "\n").encode()}


def _emit(directory: str, files: dict, force: bool = False) -> None:
    """Write the payloads into DIR all or nothing: each into a temporary directory inside DIR,
    then renamed over the old one, restoring every old file if any step fails. Only the four
    names are touched, and of those only files xlrmrr wrote (see plan.json) unless --force."""
    import os
    import shutil
    import tempfile

    from xlrmrr.common import InputError

    if os.path.exists(directory) and not os.path.isdir(directory):
        raise InputError(f"--emit {directory}: exists and is not a directory")
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as e:
        raise InputError(f"--emit {directory}: cannot create it: {e.strerror}") from None
    present = [n for n in EMIT_FILES if os.path.lexists(os.path.join(directory, n))]
    for name in present:
        path = os.path.join(directory, name)
        if os.path.islink(path) or not os.path.isfile(path):
            raise InputError(f"--emit {directory}: {name} exists and is not a regular file; "
                             f"not replacing it")
    ours = _emitted_by_us(directory)
    foreign = [n for n in present if n not in ours]
    if foreign and not force:
        raise InputError(f"--emit {directory}: {foreign[0]} exists and was not written by xlrmrr "
                         f"(or was changed since); not replacing it: name a new or empty directory, "
                         f"or add --force")
    files = _with_mark(files)
    try:
        tmp = tempfile.mkdtemp(prefix=".xlrmrr-emit-", dir=directory)
    except OSError as e:
        raise InputError(f"--emit {directory}: cannot write there: {e.strerror}") from None
    done: list = []        # (name, backup path or None)
    try:
        for name, data in files.items():
            with open(os.path.join(tmp, name), "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(os.path.join(tmp, name), 0o644)
        for name in EMIT_FILES:
            path = os.path.join(directory, name)
            backup = None
            if name in present:
                backup = os.path.join(tmp, name + ".old")
                shutil.copy2(path, backup)
            if name in files:
                os.replace(os.path.join(tmp, name), path)
                done.append((name, backup))
            elif backup is not None:    # a payload of an earlier plan that this plan does not reach
                os.unlink(path)
                done.append((name, backup))
    except OSError as e:
        for name, backup in reversed(done):
            path = os.path.join(directory, name)
            try:
                if backup is not None:
                    os.replace(backup, path)
                else:
                    os.unlink(path)
            except OSError:
                pass
        raise InputError(f"--emit {directory}: cannot write the payloads: {e.strerror or e}; "
                         f"nothing was changed") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _raise_or(value):
    if isinstance(value, Exception):
        raise value
    return value


def _domain_for(load_domain, data: bytes, source: str, version, parse):
    """The config as another release's xl reads it (from the one libxlu parse, which does not
    depend on the release); a file that xl rejects raises InputError."""
    from xlrmrr.cli.guest import XL_EXITS, XL_UNPARSABLE
    from xlrmrr.common import InputError

    domain, findings, _parse = load_domain(data, source, version, parse)
    for f in findings:
        if f.code in XL_UNPARSABLE + XL_EXITS:
            raise InputError(f.message)
    return domain


CRLF_HINT = ("the file has DOS (CRLF) line endings, and xl's lexer rejects the \\r on every line "
             "with a token: convert it with dos2unix")


def run(args) -> int:
    """Bad input, a config xl refuses included, is one escaped stderr line and exit status 2;
    with --json stdout carries one object (the xl-stage plan of a refused config, else the
    error object every command prints)."""
    from xlrmrr.common import EXIT_INPUT, InputError

    try:
        return _run(args)
    except InputError as e:
        _error_line(str(e))
        if args.json:
            from xlrmrr.cli import error_json
            print(error_json(str(e)))
        return EXIT_INPUT


def _error_line(message: str) -> None:
    import sys

    from xlrmrr.report import escape

    print(escape(f"xlrmrr create: error: {message}"), file=sys.stderr)


def _load_guest(data: bytes, source: str, version):
    from xlrmrr.cli.guest import load_guest
    from xlrmrr.common import InputError

    try:
        return load_guest(data, source, version)
    except InputError as e:
        if b"\r\n" in data:
            raise InputError(f"{e}; {CRLF_HINT}") from None
        raise


def _run(args) -> int:
    import sys
    from dataclasses import replace

    from xlrmrr.cli.guest import XL_EXITS
    from xlrmrr.cli.hostargs import host_and_version, host_loader
    from xlrmrr.common import EXIT_INPUT, InputError
    from xlrmrr.driver import (
        EXIT_FOR,
        VERDICT_BLOCKED,
        VERDICT_OK,
        Options,
        compared_versions,
        plan,
        refused_by_xl,
        unique,
    )
    from xlrmrr.files import read_input
    from xlrmrr.xlcfg import load_domain

    xl_args = _split_rest(args)
    if args.force and not args.emit:
        raise InputError("--force only applies with --emit DIR (it lets --emit replace files "
                         "xlrmrr did not write); add --emit DIR or drop --force")
    from xlrmrr.hvmloader import firmware_parameter_error
    bad = firmware_parameter_error(args.bios_base, args.acpi_end)
    if bad:
        raise InputError(bad)
    raw = read_input(args.config, "xl config")
    data = _config_data(raw, xl_args)
    load_host = host_loader(args)
    host, version, version_note = host_and_version(args, load_host)
    domain, xl_findings, parse = _load_guest(data, args.config, version)
    findings: list = list(xl_findings) + list(version_note)
    sizes = _firmware_sizes(domain, findings)
    xen_domain = None
    if domain.rdm_forcecheck is not None:
        # xl ignores the design's key: read the file once more with it overridden (the last
        # assignment wins in libxlu) to get what xl really hands to libxl.
        xen_domain = load_domain(data + b'\nrdm_forcecheck = "ignored by xl"\n', args.config, version)[0]
    # xl itself refuses the file: no other stage runs, so no release comparison.
    compare = not any(f.code in XL_EXITS for f in findings)
    # Read the inputs as every other release band would, here, so that plan() does no I/O.
    domains: dict = {}
    hosts: dict = {}
    if compare:
        for v in compared_versions(version):
            try:
                domains[str(v)] = _domain_for(load_domain, data, args.config, v, parse)
            except InputError as e:
                domains[str(v)] = e
            hosts[str(v)] = load_host(v)
    options = Options(hap_available=not args.no_hap, bios_base=args.bios_base, acpi_end=args.acpi_end,
                      firmware_sizes=sizes, xen_domain=xen_domain, compare_versions=compare,
                      host_for_version=lambda v: hosts[str(v)],
                      domain_for_version=lambda v: _raise_or(domains[str(v)]))
    if compare:
        result = plan(domain, host, version, options)
    else:       # xl exits while reading the file: libxl and everything after never run
        result = refused_by_xl(domain, host, version, options)
    extra = tuple(findings) + tuple(getattr(host, "findings", ()))
    if not compare:     # a config xl refuses is bad input: --json still shows the xl stage
        result = replace(result, findings=extra + result.findings)
        if args.json:
            from xlrmrr.report.create import json_text
            sys.stdout.write(json_text(result))
            sys.stdout.flush()
        from xlrmrr.cli.guest import refusal

        _error_line(refusal(findings, args.config, raw.count(b"\n") + 1))
        return EXIT_INPUT
    result = replace(result, findings=unique(extra + result.findings), exit_status=EXIT_FOR[result.verdict])

    from xlrmrr.report.create import json_text, payload_files, text

    if args.emit:
        _emit(args.emit, payload_files(result), args.force)
    out = json_text(result) if args.json else text(result, args.config)
    if args.dry_run:
        sys.stdout.write(out)
        return result.exit_status
    clean = result.verdict == VERDICT_OK or (args.allow_degraded and result.verdict != VERDICT_BLOCKED)
    if not clean:
        sys.stdout.write(out)
        hint = "; --allow-degraded runs it anyway" if result.verdict != VERDICT_BLOCKED else ""
        from xlrmrr.report import escape
        print(escape(f"xlrmrr create: not running `xl create {args.config}`: the plan is "
                     f"{result.verdict} (see above{hint})"), file=sys.stderr)
        return result.exit_status
    from xlrmrr.cli._run_xl import run_xl

    return run_xl("xlrmrr create", ["xl", "create", args.config, *xl_args],
                  f"plan {result.verdict} (Xen {result.xen_version})")
