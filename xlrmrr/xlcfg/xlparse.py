"""xl's parse_config_data for the keys the RDM flow needs: settings -> DomainConfig + findings.

Follows tools/xl/xl_parse.c key by key, in xl's order (so getter warnings come out in the order
xl prints them), with the release differences of docs/xen/flow.md#xl-rdm: the PCI_SPEC_STRING
parser (4.15+) versus the BDF state machine (<= 4.14), the three `rdm=` parsers, and the
4.13.0-4.16.0 order that parses `pci=` before `rdm=`.
"""

from __future__ import annotations

import re
from dataclasses import replace

from xlrmrr.common import (
    HVM_BELOW_4G_MMIO_LENGTH,
    HVM_BELOW_4G_MMIO_START,
    NEWEST_XEN,
    Finding,
    Sbdf,
    XenVersion,
)
from xlrmrr.releases import (
    XL_PCI_BEFORE_RDM,
    XL_PCI_SPEC_PARSER,
    XL_RDM_PARSER_REWRITE,
    XL_RDM_POLICY_INVERTED,
    XL_TYPE_KEY,
    effective,
    point_releases,  # noqa: F401  (kept importable from here)
)
from xlrmrr.xlcfg.domain import (
    LIBXL_PCI_FUNC_ALL,
    POLICY_INVALID,
    POLICY_STRICT,
    POLICY_UNSET,
    STRATEGY_HOST,
    STRATEGY_UNSET,
    DomainConfig,
    PciDevice,
    RdmReserve,
)
from xlrmrr.xlcfg.getters import ESRCH, Getters
from xlrmrr.xlcfg.keys import KNOWN_KEYS, NUMBER_KEYS, near_key
from xlrmrr.xlcfg.pcispec import PciFields, _release, parse_bdf_old, parse_spec_string, rdm_parse
from xlrmrr.xlcfg.settings import ConfigParse

BIOS_TYPES = ("unknown", "rombios", "seabios", "ovmf")


def _f(severity: str, code: str, message: str) -> Finding:
    return Finding(severity, code, "xl", message)


class _Exit(Exception):
    """xl would print this and exit (creation stops before libxl)."""

    def __init__(self, message: str, status: int = 1, key: str | None = None, hint: str = ""):
        super().__init__(message)
        self.status = status
        self.key = key
        self.hint = hint


def load_domain(data: bytes, source: str, xen_version: XenVersion | None = None,
                parse: ConfigParse | None = None):
    """(DomainConfig, findings, ConfigParse) for one config file, as the given xl reads it;
    `parse`: parse_config(data, source) done earlier (it is the same for every release)."""
    from xlrmrr.xlcfg import parse_config

    version = xen_version or NEWEST_XEN
    cfg = parse if parse is not None else parse_config(data, source)
    findings: list[Finding] = []
    if not cfg.ok:
        findings.append(_parse_failure(cfg))
        findings.extend(lint(data, cfg, version, None))
        return DomainConfig(xen_version=version, source=source), tuple(findings), cfg
    xl = _XlReader(cfg, version)
    try:
        dom = xl.read()
    except _Exit as e:
        dom = xl.partial()
        # The setting that made xl exit names the line; a missing one (name=) only the file.
        where = f"{source}:{cfg.settings[e.key].line}: " if e.key in cfg.settings else ""
        findings.append(_f("error", "xl-exit",
                           f"{where}{e} (xl stops here and exits with status {e.status}; "
                           f"the domain is not created){'; ' + e.hint if e.hint else ''}"))
    for line in xl.getters.report:
        findings.append(_f("warning", "xl-warning", line.rstrip("\n")))
    findings.extend(dropped_values(cfg, xl.getters.report))
    findings.extend(xl.findings)
    findings.extend(lint(data, cfg, version, xl))
    return dom, tuple(findings), cfg


def pci_before_rdm(version: XenVersion) -> bool:
    """xl reads pci= before rdm= (docs/xen/flow.md#xl-parse-order): from 4.13.0 until the fix that reverts it
    (releases.XL_RDM_BEFORE_PCI_AGAIN) reached each line."""
    return effective(XL_PCI_BEFORE_RDM, version)


def _parse_failure(cfg: ConfigParse) -> Finding:
    if cfg.aborted:
        return _f("error", "xl-abort",
                  f"xl would abort here: {cfg.abort_reason} fails an assertion in libxlutil's "
                  "string dequoting (xlu__cfgl_dequote) and xl dies with SIGABRT; remove the "
                  "NUL byte from the quoted string")
    first = cfg.diagnostics.split("\n", 1)[0] if cfg.diagnostics else "(no message)"
    return _f("error", "xl-parse-error",
              f"xl cannot parse this file: `Failed to parse config: "
              f"{'Invalid argument' if cfg.rc == 22 else 'Numerical result out of range'}'; "
              f"first error: {first}")


class _XlReader:
    def __init__(self, cfg: ConfigParse, version: XenVersion):
        self.cfg = cfg
        self.version = version
        self.getters = Getters(cfg)
        self.findings: list[Finding] = []
        self.fields: dict = {"xen_version": version, "source": cfg.source}
        self.rdm_result = None
        self.pci_stopped_at: int | None = None

    def partial(self) -> DomainConfig:
        return DomainConfig(**self.fields)

    def _memkb(self, key: str, field: str) -> None:
        """xl's `if (!xlu_cfg_get_long(config, key, &l, 0)) b_info->field = l * 1024;`: MiB in
        the file, KiB in libxl."""
        rc, mb = self.getters.get_long(key)
        if not rc:
            self.fields[field] = mb * 1024

    def read(self) -> DomainConfig:
        g, f = self.getters, self.fields
        f["type"] = self._type()
        rc, hap = g.get_defbool("hap")
        if not rc:
            f["hap"] = hap
        rc, name = g.get_string("name")
        if rc:
            raise _Exit("Domain name must be specified.", hint='add a line name = "GUEST"')
        f["name"] = name
        self._memkb("memory", "target_memkb")
        self._memkb("maxmem", "max_memkb")
        rc, vcpus = g.get_long("vcpus")
        vcpus = vcpus if not rc else 0
        rc, maxvcpus = g.get_long("maxvcpus")
        maxvcpus = maxvcpus if not rc else 0
        if f.get("max_memkb") is None and f.get("target_memkb") is not None:
            f["max_memkb"] = f["target_memkb"]
        if maxvcpus == 0:
            maxvcpus = vcpus
        if maxvcpus < vcpus:
            raise _Exit("xl: maxvcpus < vcpus", key="maxvcpus",
                        hint=f"set maxvcpus to at least vcpus ({vcpus})")
        f["vcpus"] = vcpus if vcpus > 0 else 1
        f["max_vcpus"] = maxvcpus if maxvcpus > 0 else None
        defaults = {}
        for key in ("pci_msitranslate", "pci_power_mgmt", "pci_permissive", "pci_seize"):
            rc, val = g.get_long(key)
            defaults[key[4:]] = bool(val) if not rc else False
        if pci_before_rdm(self.version):
            self._pci(defaults)
            self._rdm()
        else:
            self._rdm()
            self._pci(defaults)
        self._forcecheck()
        self._memkb("shadow_memory", "shadow_memkb")
        self._memkb("videoram", "video_memkb")
        rc, acpi = g.get_defbool("acpi")
        if not rc:
            f["acpi"] = acpi
        if f["type"] == "hvm":
            self._hvm()
        self._device_model()
        if f["type"] == "hvm":
            self._vga_gfx()
        return DomainConfig(**f)

    def _type(self) -> str:
        g = self.getters
        dtype = None
        if XL_TYPE_KEY.in_effect(self.version):
            rc, buf = g.get_string("type")
            if not rc:
                for cand in ("hvm", "pv", "pvh"):
                    if cand.startswith(buf):
                        dtype = cand
                        break
                else:
                    raise _Exit(f"Invalid domain type {buf}.", key="type",
                                hint='write type = "hvm", "pv" or "pvh"')
                if buf != dtype:
                    self.findings.append(_f(
                        "info", "type-prefix",
                        f"type = \"{buf}\" is read as \"{dtype}\": xl compares only the "
                        "characters given (strncmp against hvm, then pv, then pvh)"))
        elif "type" in self.cfg.settings:
            self.findings.append(_f(
                "warning", "type-unknown",
                f"xl of Xen {self.version} does not know type= (added in 4.10) and ignores it; "
                'write builder = "hvm" for an HVM guest'))
        rc, buf = g.get_string("builder")
        if not rc:
            if "hvm".startswith(buf):
                btype = "hvm"
            elif "generic".startswith(buf):
                btype = "pv"
            else:
                raise _Exit(f"Invalid domain type {buf}.", key="builder",
                            hint='write builder = "hvm" or "generic" (or type = "hvm")')
            if dtype is not None and dtype != btype:
                raise _Exit('Contradicting "builder" and "type" options specified.',
                            key="builder", hint="drop builder= (type= replaces it)")
            dtype = btype
        return dtype or "pv"

    def _rdm(self) -> None:
        rc, buf = self.getters.get_string("rdm")
        if rc:
            return
        res = rdm_parse(buf, self.version)
        self.rdm_result = (buf, res)
        if res.rc == 0:
            self.fields["rdm"] = RdmReserve(
                strategy=res.strategy or STRATEGY_UNSET,
                policy=res.policy or POLICY_UNSET)

    def _forcecheck(self) -> None:
        rc, val = self.getters.get_long("rdm_forcecheck", dont_warn=True)
        if rc == ESRCH:
            return
        f = self.fields
        if rc or val not in (0, 1):
            self.findings.append(_f(
                "warning", "rdm-forcecheck-value",
                "rdm_forcecheck must be 0 or 1; this value is ignored (and upstream xl "
                "ignores the key entirely)"))
            return
        f["rdm_forcecheck"] = val
        if val == 1:
            f["rdm"] = RdmReserve(STRATEGY_HOST, POLICY_STRICT)
            f["pci"] = tuple(replace(d, rdm_policy=POLICY_STRICT)
                             if d.rdm_policy in (POLICY_INVALID, POLICY_UNSET) else d
                             for d in f.get("pci", ()))
        if XL_RDM_POLICY_INVERTED.in_effect(self.version):
            instead = ('rdm = "strategy=host" and `rdm_policy=strict` on each pci= entry '
                       '(on this release a `policy=` inside rdm= makes xl drop the whole rdm= '
                       'line)')
        else:
            instead = 'rdm = "strategy=host,policy=strict"'
        self.findings.append(_f(
            "info", "rdm-forcecheck",
            f"rdm_forcecheck = {val} is the spelling of the original RMRR design; upstream xl "
            f"does not know this key and ignores it. xlrmrr applies it as "
            f"{'strategy=host with the strict policy' if val else 'no change'}; "
            f"to get this from real xl, write {instead}"))

    def _pci(self, defaults: dict) -> None:
        g, f = self.getters, self.fields
        rc, items = g.get_list("pci")
        if rc:
            return
        line = self.cfg.settings["pci"].line
        policy = f.get("rdm", RdmReserve()).policy
        spec = XL_PCI_SPEC_PARSER.in_effect(self.version)
        # The entries read alike wherever the parser and what they inherit are the same: a
        # reading of the same parse for another release takes them as read (a list that xl
        # refuses is read again, its message naming the release).
        key = ("pci", spec, policy, tuple(sorted(defaults.items())))
        known = self.cfg.readings.get(key)
        if known is not None:
            f["pci"], found, self.pci_stopped_at = known
            self.findings.extend(found)
            return
        before = len(self.findings)
        devices = []
        pre = PciFields(rdm_policy=policy, **defaults)
        what = "PCI_SPEC_STRING" if spec else "PCI BDF"
        parsed: dict = {}       # the parse is a function of the entry's text: once per text
        for i, item in enumerate(items):
            if not isinstance(item, str):
                self.pci_stopped_at = i
                break
            res = parsed.get(item)
            if res is None:
                res = parsed[item] = (parse_spec_string if spec else parse_bdf_old)(item, pre)
            if res.report:
                self.findings.append(_f("warning" if res.rc == 0 else "error",
                                        "xl-pci-message", res.report))
            if res.rc:
                f["pci"] = tuple(devices)
                raise _Exit(f"unable to parse {what} `{item}' for passthrough", -res.rc, "pci",
                            pci_hint(item, res.report, self.version))
            p = res.pci
            func = 0 if p.vfunc_mask == LIBXL_PCI_FUNC_ALL else p.func
            sbdf = None if p.name is not None else Sbdf(p.domain, p.bus, p.dev, func)
            devices.append(PciDevice(
                spec=item, sbdf=sbdf, name=p.name, vfunc_mask=p.vfunc_mask, vdevfn=p.vdevfn,
                msitranslate=p.msitranslate, power_mgmt=p.power_mgmt,
                permissive=p.permissive, seize=p.seize, rdm_policy=p.rdm_policy, line=line))
        f["pci"] = tuple(devices)
        self.cfg.readings[key] = (f["pci"], tuple(self.findings[before:]), self.pci_stopped_at)

    def _hvm(self) -> None:
        g, f = self.getters, self.fields
        rc, buf = g.get_string("bios")
        if not rc:
            low = buf.lower()
            if low not in BIOS_TYPES:
                raise _Exit(f'ERROR: invalid value "{buf}" for "bios"', key="bios",
                            hint='write bios = "seabios", "ovmf" or "rombios"')
            f["bios"] = low
        rc, apic = g.get_defbool("apic")
        if not rc:
            f["apic"] = apic
        rc, hole = g.get_long("mmio_hole")
        if not rc:
            size = hole * 1024 * 1024
            if size < HVM_BELOW_4G_MMIO_LENGTH or size > HVM_BELOW_4G_MMIO_START:
                raise _Exit(f'ERROR: invalid value {hole} for "mmio_hole"', key="mmio_hole",
                            hint="mmio_hole is in MiB, from 256 to 3840")
            f["mmio_hole_memkb"] = hole * 1024
        for key in ("smbios_firmware", "acpi_firmware"):
            rc, buf = g.get_string(key)
            if not rc:
                f[key] = buf
        self._memkb("rdm_mem_boundary", "rdm_mem_boundary_memkb")
        rc, buf = g.get_string("firmware")
        if not rc and "bios" not in f:
            if buf.lower() in BIOS_TYPES:
                f["bios"] = buf.lower()
            elif "uefi".startswith(buf):
                f["bios"] = "ovmf"

    def _device_model(self) -> None:
        g, f = self.getters, self.fields
        rc, buf = g.get_string("device_model_version")
        if not rc:
            if buf not in ("qemu-xen-traditional", "qemu-xen"):
                raise _Exit(f'Unknown device_model_version "{buf}" specified',
                            key="device_model_version",
                            hint='write device_model_version = "qemu-xen"')
            f["device_model_version"] = buf
            if buf == "qemu-xen-traditional" and "bios" not in f:
                f["bios"] = "rombios"

    def _vga_gfx(self) -> None:
        g, f = self.getters, self.fields
        rc, buf = g.get_string("vga")
        if not rc:
            if buf == "stdvga":
                f["vga"] = "stdvga"
            elif buf in ("cirrus", "none", "qxl"):
                f["vga"] = buf
            else:
                raise _Exit(f'Unknown vga "{buf}" specified', key="vga",
                            hint='write vga = "stdvga", "cirrus", "qxl" or "none"')
        else:
            rc, std = g.get_long("stdvga")
            if not rc:
                f["vga"] = "stdvga" if std else "cirrus"
        rc, val = g.get_long("gfx_passthru", dont_warn=True)
        if not rc:
            f["gfx_passthru"] = "default" if val else None
        else:
            rc, buf = g.get_string("gfx_passthru")
            if not rc:
                low = buf.lower()
                if low not in ("default", "igd"):
                    raise _Exit(f'ERROR: invalid value "{buf}" for "gfx_passthru"',
                                key="gfx_passthru", hint='write gfx_passthru = 1 or "igd"')
                f["gfx_passthru"] = low


# What libxl uses instead when xl drops a number it cannot read (docs/xen/flow.md#libxl-defaults).
_NUMBER_DEFAULTS = {
    "memory": "libxl's default size (maxmem if set, else 32 MiB)",
    "maxmem": "maxmem equal to memory",
    "videoram": "libxl's default video RAM (8 MiB for cirrus, 16 MiB for stdvga)",
    "shadow_memory": "libxl's computed shadow pool",
    "rdm_mem_boundary": "libxl's default rdm_mem_boundary of 2048 MiB",
    "mmio_hole": "libxl's default MMIO hole (256 MiB below 4 GiB)",
    "vcpus": "1 vCPU",
    "maxvcpus": "maxvcpus equal to vcpus",
}
_MIB_KEYS = ("memory", "maxmem", "videoram", "shadow_memory", "rdm_mem_boundary", "mmio_hole")
_UNIT = re.compile(r"\s*(\d{1,30})\s*([kmgt]?)(?:i?b)?\s*", re.I)
_GETTER_WARNING = re.compile(r":(\d+): warning: parameter `(\w+)' (is not a valid number|could not "
                             r"be parsed as a number|is a list but should be a single value|is a "
                             r"single value but should be a list)")


def _number_instead(key: str, value) -> str:
    """`memory = 4096` for "4G": a plain number of MiB, without unit or quotes."""
    text = value if isinstance(value, str) else (value[0] if len(value) == 1 and
                                                 isinstance(value[0], str) else "")
    m = _UNIT.fullmatch(text)
    if m and key in _MIB_KEYS:
        shift = {"": 0, "k": -10, "m": 0, "g": 10, "t": 20}[m[2].lower()]
        mib = int(m[1]) << shift if shift >= 0 else -(-int(m[1]) >> -shift)   # KiB rounds up
        if mib:
            return f"{key} = {mib} (MiB, a plain number: no unit, no quotes)"
    if m and key not in _MIB_KEYS:
        return f"{key} = {int(m[1])} (a plain number, no quotes)"
    return f"{key} = N ({'MiB, ' if key in _MIB_KEYS else ''}a plain number, no quotes)"


def dropped_values(cfg: ConfigParse, report) -> list:
    """The consequence of each getter warning xl printed for a key the plan depends on: xl goes
    on without the value, so the guest is not the one the file describes."""
    from xlrmrr.xlcfg.settings import value_json

    out: list[Finding] = []
    for line in report:
        m = _GETTER_WARNING.search(line)
        if m is None or m[2] not in cfg.settings:
            continue
        key, s = m[2], cfg.settings[m[2]]
        value = value_json(s.value, False)
        shown = f"{key} = {value if len(value) <= 60 else value[:57] + '...'} (line {s.line})"
        if key == "pci" and s.kind == "string":
            out.append(_f("warning", "pci-not-a-list",
                          f"{shown} is a string, not a list: xl's xlu_cfg_get_list fails on it, "
                          f"so xl passes no PCI device through (the guest starts without it and no "
                          f"RMRR is reserved for it); write pci = [ '{s.value}' ]"))
        elif key in _NUMBER_DEFAULTS:
            out.append(_f("warning", "number-dropped",
                          f"{shown} is not a number xl can read (xlu_cfg_get_long: strtol, base 0, "
                          f"on a single value), so xl ignores the line and the guest gets "
                          f"{_NUMBER_DEFAULTS[key]}; write {_number_instead(key, s.value)}"))
    return out


_BDF_NO_FUNC = re.compile(r"(?:[0-9a-fA-F]{1,4}:)?[0-9a-fA-F]{1,2}:[0-9a-fA-F]{1,2}")
_DF_NO_BUS = re.compile(r"[0-9a-fA-F]{1,2}\.(?:[0-7]|\*)")
# What xl's PCI parsers take (tools/libs/util/libxlu_pci.c: xlu_pci_parse_spec_string from
# 4.16, parse_bdf before): the segment is optional, the bus is not.
PCI_ENTRY_GRAMMAR = "[SSSS:]BB:DD.F[@VSLOT][,KEY=VALUE...]"


def pci_hint(item: str, report: str, version: XenVersion) -> str:
    """What to write instead of a pci= entry xl cannot parse, where it is obvious."""
    parse = parse_spec_string if XL_PCI_SPEC_PARSER.in_effect(_release(version)) else parse_bdf_old
    head, sep, rest = item.partition(",")
    bdf = head.partition("@")[0]
    if _BDF_NO_FUNC.fullmatch(bdf.strip()):
        fixed = bdf.strip() + ".0" + head[len(bdf):].strip() + sep + rest
        return (f"a device is BB:DD.F such as 00:14.0 (lspci's notation, function included): "
                f"write `{fixed}'" if parse(fixed).rc == 0 else
                "a device is BB:DD.F such as 00:14.0 (lspci's notation, function included)")
    if _DF_NO_BUS.fullmatch(bdf.strip()):
        fixed = "00:" + bdf.strip() + head[len(bdf):].strip() + sep + rest
        if parse(fixed).rc == 0:
            return (f"xl needs the bus: a device is BB:DD.F, as lspci prints it; for "
                    f"`{bdf.strip()}' on bus 0 write `{fixed}'")
    squeezed = ",".join(p.strip() for p in item.split(","))
    if squeezed != item and parse(squeezed).rc == 0:
        return f"xl does not trim blanks: write `{squeezed}'"
    if "RDM policy" in report or "RDM property policy" in report:
        return f"xl printed `{report}': rdm_policy= takes strict or relaxed"
    said = f"xl printed `{report}'; " if report else ""
    return (f"{said}an entry is {PCI_ENTRY_GRAMMAR} (the bus is required), e.g. `00:14.0' or "
            f"`0000:00:14.0,rdm_policy=relaxed'")


def typo_outcome(meant: str, cfg: ConfigParse, xl: _XlReader | None) -> str:
    """What the guest gets for the key `meant` when the file misspells it: the file's own
    setting of that key where it has one, else xl's and libxl's default
    (tools/xl/xl_parse.c:parse_config_data, libxl__domain_build_info_setdefault)."""
    if meant in cfg.settings:
        return f"and {meant} as set on line {cfg.settings[meant].line} applies"
    dom = xl.partial() if xl is not None else None
    if meant == "memory":
        if dom is not None and dom.max_memkb is not None:
            return f"so the guest gets memory = maxmem = {dom.max_memkb // 1024} MiB"
        return "so the guest gets the default memory = 32 MiB"
    if meant == "maxmem":
        if dom is not None and dom.target_memkb is not None:
            return f"so the guest gets maxmem = memory = {dom.target_memkb // 1024} MiB"
        return "so the guest gets the default maxmem = memory = 32 MiB"
    if meant == "vcpus":
        return "so the guest gets the default vcpus = 1"
    if meant in _NUMBER_DEFAULTS:
        return f"so the guest gets {_NUMBER_DEFAULTS[meant]}"
    return _TYPO_DEFAULTS.get(meant, f"so {meant} keeps its default")


_TYPO_DEFAULTS = {
    "pci": "so no PCI device is passed through (and no RMRR is reserved for one)",
    "rdm": "so libxl's default applies: strategy ignore (only the assigned devices' RMRRs are "
           "reserved)",
    "name": "and without name= xl refuses the file",
    "type": "so xl picks the guest type without it (builder= if set, else PV)",
    "gfx_passthru": "so no graphics passthrough is set up",
    "bios": "so the guest gets the default firmware (SeaBIOS with qemu-xen)",
}


def lint(data: bytes, cfg: ConfigParse, version: XenVersion, xl: _XlReader | None) -> list:
    """Plain-words explanations of what surprises people about how xl reads a file."""
    out: list[Finding] = []
    if b"\r\n" in data:
        out.append(_f("error" if not cfg.ok else "warning", "crlf",
                      "the file has DOS (CRLF) line endings; xl's lexer rejects the \\r on "
                      "every line with a token (`lexical error'). Convert it with dos2unix"))
    if cfg.likely_python and not cfg.ok:
        out.append(_f("error", "python",
                      "the file looks like a Python (xm/xend) config; xl reads a simple "
                      "`key = value' language and no longer runs Python "
                      "(https://wiki.xen.org/wiki/PythonInXlConfig)"))
    if not cfg.ok:
        return out
    for name, s in sorted(cfg.settings.items()):
        if name not in KNOWN_KEYS and name != "rdm_forcecheck":
            meant = near_key(name)
            if meant is None:
                out.append(_f("info", "unknown-key",
                              f"{name} (line {s.line}) is not a key xl reads; it is ignored"))
            else:
                # A warning, not an error: xl really does start the guest without the setting
                # meant (the verdict and exit status stay those of that guest), but the admin
                # almost certainly wanted it. Information only where the file sets the key
                # meant as well: then the line changes nothing for the guest.
                out.append(_f("info" if meant in cfg.settings else "warning", "key-typo",
                              f"{name} (line {s.line}) is not an xl key (did you mean {meant}?): "
                              f"xl ignores it, {typo_outcome(meant, cfg, xl)}"))
        if s.op == "+=" and name in NUMBER_KEYS:
            out.append(_f("warning", "plus-equals-number",
                          f"{name} (line {s.line}) was set with +=; xl refuses to read any "
                          "setting whose last operator is += as a number, so the value is "
                          "ignored"))
    rdm = cfg.settings.get("rdm")
    if rdm is not None and rdm.kind == "string":
        out.extend(_lint_rdm(rdm.value, rdm.line, version, xl))
    pci = cfg.settings.get("pci")
    if pci is not None and pci.kind == "list":
        for i, item in enumerate(pci.value):
            if not isinstance(item, str):
                rest = len(pci.value) - i
                out.append(_f("error", "pci-nested-list",
                              f"pci= item {i + 1} (line {pci.line}) is a nested list; xl's "
                              f"xlu_cfg_get_listitem returns NULL for it and xl silently stops "
                              f"reading pci= there, so {rest} entr{'y is' if rest == 1 else 'ies are'}"
                              " ignored"))
                break
            if ", " in item:
                out.append(_lint_pci_space(item, pci.line, version))
        if pci_before_rdm(version) and rdm is not None:
            point = "" if version.patch is not None else (
                "; if your xl is a later point release, give it as --xen-version X.Y.Z")
            out.append(_f("info", "pci-before-rdm",
                          f"Xen {version} parses pci= before rdm= (a regression in 4.13.0, fixed "
                          "in 4.14.5, 4.15.3, 4.16.1 and 4.17, commit e45ad0b1b0), so each "
                          "device's rdm_policy does not inherit the policy of rdm=; set "
                          f"rdm_policy on each pci= entry{point}"))
    return out


def _lint_pci_space(item: str, line: int, version: XenVersion) -> Finding:
    """A blank after a comma in a PCI_SPEC_STRING, worded by what that release's parser does:
    4.15+ rejects the unknown key ` KEY' and xl exits; the older state machine only warns."""
    if XL_PCI_SPEC_PARSER.in_effect(version):
        res, what = parse_spec_string(item), "PCI_SPEC_STRING"
    else:
        res, what = parse_bdf_old(item), "PCI BDF"
    said = f"prints `{res.report}' and " if res.report else ""
    if res.rc:
        then = (f"{said}refuses the guest (`unable to parse {what} `{item}' for passthrough', "
                f"exit status {-res.rc}); remove the blank")
    else:
        then = f"{said}starts the guest with that option ignored; remove the blank"
    return _f("warning", "space-after-comma",
              f"pci= entry `{item}' (line {line}) has a space after a comma; xl does not trim "
              f"blanks, so the key after it starts with a blank: xl of Xen {version} {then}")


def _lint_rdm(text: str, line: int, version: XenVersion, xl: _XlReader | None) -> list:
    out: list[Finding] = []
    res = rdm_parse(text, version)
    if ", " in text:
        out.append(_f("warning", "space-after-comma",
                      f"rdm = \"{text}\" (line {line}) has a space after a comma; xl does not "
                      "trim blanks, so the key after it is unknown (as in docs/misc/vtd.txt's "
                      "own example, which does not parse)"
                      + (f"; xl of Xen {version} prints `{res.report}'" if res.report else "")))
    if res.rc:
        why = res.report or "the value is not `strategy=host[,policy=strict|relaxed]'"
        if XL_RDM_POLICY_INVERTED.in_effect(version) and res.policy is not None and not res.report:
            why = (f"Xen {version}'s xlu_rdm_parse treats a valid `policy=' as a failure (a "
                   "bug since 4.15, commit bdc0799fe2), so any rdm= with a policy is dropped; "
                   "write rdm = \"strategy=host\" and put rdm_policy=strict|relaxed on each "
                   "pci= entry instead")
        elif not XL_RDM_PARSER_REWRITE.in_effect(version) and not text.startswith("strategy="):
            why = (f"Xen {version} accepts only the exact form strategy=host,policy=X "
                   f"({res.report or 'parse error'})")
        out.append(_f("warning", "rdm-ignored",
                      f"rdm = \"{text}\" (line {line}) is ignored by xl: {why}. xl prints "
                      "nothing more and the guest gets strategy=ignore (no RMRR is reserved "
                      "unless a device needs one)"))
    elif res.policy is None and XL_RDM_PARSER_REWRITE.in_effect(version):
        best = (f"; on Xen {version} that is the best the release allows (xl drops an rdm= line "
                f"with a valid policy=): give each pci= entry its own rdm_policy="
                if XL_RDM_POLICY_INVERTED.in_effect(version) else
                '; write rdm = "strategy=host,policy=strict" (or policy=relaxed)')
        out.append(_f("warning", "rdm-policy-unset",
                      f"rdm = \"{text}\" (line {line}) sets no policy; xl then copies an "
                      "uninitialised value into the global policy (undefined: libxl only "
                      f"defaults it when it happens to be INVALID){best}"))
    elif res.report:
        out.append(_f("warning", "rdm-message", f"xlu_rdm_parse printed `{res.report}' but "
                      "returned success; the unknown policy is ignored"))
    return out
