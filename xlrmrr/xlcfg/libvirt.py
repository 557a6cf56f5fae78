"""libvirt domain XML -> DomainConfig, as libvirt's libxl driver builds libxl_domain_config.

The driver (libvirt src/libxl/libxl_conf.c, libxlBuildDomainConfig) fills c_info in
libxlMakeDomCreateInfo, b_info in libxlMakeDomBuildInfo, pcidevs in libxlMakePCIList /
libxlMakePCI and the video fields in libxlMakeVideo, after libvirt's XML parser and the driver's
post-parse callbacks (src/libxl/libxl_domain.c, libxlDomainDeviceDefPostParse) set defaults.
What matters for RMRRs:

- memory: <memory> is max_memkb and <currentMemory> target_memkb, both in KiB after libvirt's
  unit scaling (rounded up to KiB), then rounded up to whole MiB ("Xen requires the memory
  sizes to be rounded to 1MiB increments"); a missing or larger <currentMemory> is <memory>.
- vcpus: <vcpu current='N'>M</vcpu>: max_vcpus M, avail_vcpus the first N.
- type: <os><type> hvm -> HVM, xenpvh -> PVH, xen or linux -> PV.
- HVM only: apic, acpi and pae are on only where <features> lists them (absent means off,
  unlike xl); <os firmware='efi'> or <loader type='pflash'> selects OVMF; the first <video>
  gives vga.kind and video_memkb (defaults per kind for qemu-xen: cirrus 8 MiB, vga/xen 16 MiB,
  qxl 128 MiB; below those the driver refuses the domain); no <video> (and no <graphics>,
  which adds an implicit one) means vga none; <acpi><table type='slic'> is acpi_firmware.
- PCI: every <hostdev mode='subsystem' type='pci'> and <interface type='hostdev'> (interfaces
  first: libvirt's parser inserts them into def->hostdevs before the <hostdev> elements) is one
  libxl_device_pci with the host address, permissive = writeFiltering='no', nothing else.
- RDM: the driver sets none of it. b_info.u.hvm.rdm stays {strategy ignore, policy invalid}
  (libxl makes the policy relaxed), rdm_mem_boundary_memkb stays default (libxl: 2048 MiB) and
  each device's rdm_policy stays invalid (libxl__device_pci_setdefault makes it strict).

The XML is read with expat directly; a DOCTYPE, any entity declaration and any entity other than
XML's five predefined ones are refused (no expansion, no external resources, no network).
"""

from __future__ import annotations

import re

from xlrmrr.common import NEWEST_XEN, Finding, InputError, Sbdf
from xlrmrr.records import record
from xlrmrr.xlcfg.domain import LIBXL_RDM_MEM_BOUNDARY_MEMKB_DEFAULT, DomainConfig, PciDevice


@record(eq=False)
class Element:
    """One XML element: tag, attributes, text, children, and the line it starts on."""

    tag: str
    attrib: dict
    line: int
    children: list
    text: str = ""

    def find(self, tag: str):
        return next((c for c in self.children if c.tag == tag), None)

    def findall(self, tag: str) -> list:
        return [c for c in self.children if c.tag == tag]

    def path(self, *tags):
        node = self
        for tag in tags:
            node = node.find(tag) if node is not None else None
        return node


class _Refused(Exception):
    pass


# libxml2, libvirt's XML parser, refuses elements nested deeper than this unless told
# XML_PARSE_HUGE, which libvirt does not ("Excessive depth in document: 256 use XML_PARSE_HUGE
# option"); a domain XML nests about six deep.
MAX_XML_DEPTH = 256
# libvirt reads <vcpu> as an unsigned int and keeps a structure per vCPU; Xen gives an HVM guest
# at most HVM_MAX_VCPUS (128). More than this many is refused as no guest this reader plans.
MAX_VCPUS = 4096


def parse_xml(data: bytes, source: str) -> Element:
    """The element tree of `data`, with line numbers; InputError (FILE:LINE: why) for XML that
    is not well-formed or declares a DTD or entities."""
    from xml.parsers import expat

    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[Element] = []
    root: list[Element] = []
    text: list[list[str]] = []

    def refuse(what):
        def handler(*_args):
            raise _Refused(f"{source}:{parser.CurrentLineNumber}: {what} is refused: domain XML "
                           "needs none, and xlrmrr expands no entities and loads nothing external")
        return handler

    def start(tag, attrib):
        if len(stack) >= MAX_XML_DEPTH:
            raise _Refused(f"{source}:{parser.CurrentLineNumber}: elements nested deeper than "
                           f"{MAX_XML_DEPTH} levels: libvirt's XML parser (libxml2) refuses the "
                           f"document ('Excessive depth in document'); a domain XML nests about 6")
        el = Element(tag, dict(attrib), parser.CurrentLineNumber, [])
        if stack:
            stack[-1].children.append(el)
        else:
            root.append(el)
        stack.append(el)
        text.append([])

    def end(_tag):
        el = stack.pop()
        object.__setattr__(el, "text", "".join(text.pop()))

    def chars(data):
        if text:
            text[-1].append(data)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.StartDoctypeDeclHandler = refuse("a DOCTYPE declaration")
    parser.EntityDeclHandler = refuse("an entity declaration")
    parser.ExternalEntityRefHandler = refuse("an external entity")
    parser.SkippedEntityHandler = refuse("an entity reference")
    try:
        parser.Parse(data, True)
    except _Refused as e:
        raise InputError(str(e), source=source, line=parser.CurrentLineNumber) from None
    except expat.ExpatError as e:
        raise InputError(f"{source}:{e.lineno}: not well-formed XML: "
                         f"{expat.ErrorString(e.code)} (column {e.offset + 1})") from None
    except ValueError as e:     # e.g. an encoding expat cannot read
        raise InputError(f"{source}: cannot read this XML: {e}") from None
    return root[0]


@record(eq=False)
class LibvirtDomain:
    """What the driver hands to libxl, in libxl_domain_config's own field names (the subset
    the RDM flow reads), plus where each came from in the XML."""

    libxl: dict                 # libxl_domain_config as libxl's JSON prints it
    lines: dict                 # "b_info.max_memkb" -> XML line
    source: str
    format: str = "libvirt"


_SCALE = {"k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6}


def _count(text: str, where: str, what: str) -> int:
    """A string of decimal digits as libvirt's virStrToLong_* reads it: a number past 64 bits
    is refused (and never handed to int(), which refuses 4,300 digits and more)."""
    if len(text.lstrip("0")) > 20:
        raise InputError(f"{where}: {what} {text[:24]}... does not fit in 64 bits: libvirt "
                         "refuses the domain")
    return int(text)


def _scaled_kib(el: Element, source: str, what: str) -> int:
    """libvirt's virDomainParseMemory: a number in `unit` (default KiB; b, bytes, k/KiB = 1024,
    KB = 1000, M/MiB, MB, ... E/EiB, EB), to KiB rounded up."""
    where = f"{source}:{el.line}"
    value = el.text.strip()
    if not re.fullmatch(r"\d+", value):
        raise InputError(f"{where}: <{what}> must be a non-negative integer, not {value!r}")
    unit = el.attrib.get("unit", "KiB")
    low = unit.lower()
    if low in ("b", "byte", "bytes"):
        scale = 1
    elif low[:1] in _SCALE and (len(unit) == 1 or low[1:] == "ib" or low[1:] == "b"):
        base = 1000 if low[1:] == "b" else 1024
        scale = base ** _SCALE[low[0]]
    else:
        raise InputError(f"{where}: unknown unit {unit!r} for <{what}> (libvirt takes b, KiB, "
                         "KB, MiB, MB, GiB, GB, TiB, TB, ...)")
    nbytes = _count(value, where, f"<{what}>") * scale
    if nbytes >> 64:
        raise InputError(f"{where}: <{what}> {value} {unit} does not fit in 64 bits")
    return -(-nbytes // 1024)


def _number(text: str, where: str, what: str, limit: int) -> int:
    """libvirt reads PCI address parts with strtoul base 0: 0x hex, 0 octal, else decimal."""
    t = text.strip()
    try:
        n = int(t, 16) if t.lower().startswith("0x") else int(t, 8) if t.startswith("0") \
            and len(t) > 1 else int(t, 10)
    except ValueError:
        raise InputError(f"{where}: PCI address {what}={text!r} is not a number") from None
    if not 0 <= n <= limit:
        raise InputError(f"{where}: PCI address {what}={text!r} is out of range (at most "
                         f"{limit:#x})")
    return n


def _pci_address(src: Element | None, where: str) -> tuple[Sbdf, int]:
    addr = src.find("address") if src is not None else None
    if addr is None:
        raise InputError(f"{where}: a PCI host device needs <source><address domain= bus= slot= "
                         "function=/></source>")
    at = f"{where.rsplit(':', 1)[0]}:{addr.line}"
    a = addr.attrib
    return Sbdf(_number(a.get("domain", "0"), at, "domain", 0xFFFF),
                _number(a.get("bus", "0"), at, "bus", 0xFF),
                _number(a.get("slot", "0"), at, "slot", 0x1F),
                _number(a.get("function", "0"), at, "function", 7)), addr.line


def _feature(features: Element | None, name: str) -> bool | None:
    """<features><NAME/> on, <NAME state='off'/> off, absent None (libvirt's tristate)."""
    el = features.find(name) if features is not None else None
    if el is None:
        return None
    return el.attrib.get("state", "on") != "off"


_VIDEO = {   # libvirt video type -> (libxl vga.kind, default KiB for qemu-xen, name in messages)
    "cirrus": ("cirrus", 8 << 10, "CIRRUS"),
    "vga": ("stdvga", 16 << 10, "VGA"),
    "xen": ("stdvga", 16 << 10, "VGA"),
    "qxl": ("qxl", 128 << 10, "QXL"),
}


def load_domain(data: bytes, source: str, xen_version=None):
    """(DomainConfig, findings, LibvirtDomain) for one libvirt domain XML; InputError for XML
    libvirt would not parse or its libxl driver would refuse to build."""
    version = xen_version or NEWEST_XEN
    root = parse_xml(data, source)
    if root.tag != "domain":
        raise InputError(f"{source}:{root.line}: the root element is <{root.tag}>, not <domain>: "
                         "this is not a libvirt domain definition")
    if root.attrib.get("type") != "xen":
        raise InputError(f"{source}:{root.line}: <domain type={root.attrib.get('type', '')!r}>: "
                         "libvirt's libxl driver only runs <domain type='xen'>")
    findings: list[Finding] = []
    lines: dict = {}

    def info(code, message):
        findings.append(Finding("info", code, "libvirt", message))

    name_el = root.find("name")
    if name_el is None or not name_el.text.strip():
        raise InputError(f"{source}:{root.line}: the domain has no <name> (libvirt refuses it: "
                         "'missing name information')")
    name = name_el.text.strip()

    os_el = root.find("os")
    type_el = os_el.find("type") if os_el is not None else None
    os_type = type_el.text.strip() if type_el is not None else ""
    dtype = {"hvm": "hvm", "xenpvh": "pvh", "xen": "pv", "linux": "pv"}.get(os_type)
    if dtype is None:
        at = type_el.line if type_el is not None else (os_el or root).line
        raise InputError(f"{source}:{at}: <os><type>{os_type}</type>: libvirt's libxl driver "
                         "runs hvm, xen (PV) and xenpvh guests; write <type>hvm</type> for an "
                         "HVM guest")
    hvm = dtype == "hvm"

    mem_el, cur_el = root.find("memory"), root.find("currentMemory")
    cells = [c for c in root.findall("cpu") for n in c.findall("numa")
             for c in n.findall("cell")]
    if mem_el is None and cells:
        # virDomainDefPostParseMemory: the total is the sum of the NUMA cells' memory
        total = 0
        for c in cells:
            el = Element("cell", {"unit": c.attrib.get("unit", "KiB")}, c.line, [],
                         c.attrib.get("memory", ""))
            total += _scaled_kib(el, source, "cell memory")
        mem_el = Element("memory", {}, cells[0].line, [], str(total))
    if mem_el is None:
        raise InputError(f"{source}:{root.line}: no <memory>: libvirt refuses the domain "
                         "('Memory size must be specified via <memory> or in the <numa> "
                         "configuration')")
    total = _scaled_kib(mem_el, source, "memory")
    if total == 0:
        raise InputError(f"{source}:{mem_el.line}: <memory> is 0: libvirt refuses the domain")
    cur = _scaled_kib(cur_el, source, "currentMemory") if cur_el is not None else 0
    if cur == 0 or cur > total:
        if cur > total:
            info("libvirt-current-memory",
                 f"<currentMemory> (line {cur_el.line}) is larger than <memory>: libvirt lowers "
                 "it to <memory>")
        cur = total
    max_memkb = -(-total // 1024) * 1024
    target_memkb = -(-cur // 1024) * 1024
    if (max_memkb, target_memkb) != (total, cur):
        info("libvirt-memory-rounded",
             f"libvirt rounds the guest's memory up to whole MiB for Xen: max_memkb "
             f"{max_memkb}, target_memkb {target_memkb} (the XML says {total} and {cur} KiB)")
    lines["b_info.max_memkb"] = mem_el.line
    lines["b_info.target_memkb"] = cur_el.line if cur_el is not None else mem_el.line

    vcpu_el = root.find("vcpu")
    max_vcpus, vcpus = 1, None
    if vcpu_el is not None:
        where = f"{source}:{vcpu_el.line}"
        t = vcpu_el.text.strip() or "1"
        if not t.isdigit() or _count(t, where, "<vcpu>") == 0:
            raise InputError(f"{where}: <vcpu>{t}</vcpu>: the vCPU count must be a positive "
                             "integer")
        max_vcpus = _count(t, where, "<vcpu>")
        if max_vcpus > MAX_VCPUS:
            raise InputError(f"{where}: <vcpu>{t}</vcpu>: more vCPUs than any Xen guest this "
                             f"reads (at most {MAX_VCPUS}; Xen's HVM_MAX_VCPUS is 128)")
        c = vcpu_el.attrib.get("current")
        if c is not None:
            if not c.strip().isdigit():
                raise InputError(f"{where}: <vcpu current={c!r}>: not a number")
            vcpus = _count(c.strip(), where, "<vcpu current>")
            if vcpus > max_vcpus:
                raise InputError(f"{where}: <vcpu current='{vcpus}'> exceeds the maximum "
                                 f"{max_vcpus}: libvirt refuses the domain")
        lines["b_info.max_vcpus"] = vcpu_el.line
    if not vcpus:
        vcpus = max_vcpus

    features = root.find("features")
    hap = _feature(features, "hap") if dtype in ("hvm", "pvh") else None
    fields: dict = dict(xen_version=version, name=name, type=dtype, target_memkb=target_memkb,
                        max_memkb=max_memkb, vcpus=vcpus, max_vcpus=max_vcpus, hap=hap,
                        source=source, device_model_version="qemu-xen",
                        # libxl_get_required_shadow_memory(max_memkb, max_vcpus)
                        shadow_memkb=4 * (256 * max_vcpus + 2 * (max_memkb // 1024)))
    b_hvm: dict = {}
    devices = root.find("devices")
    if hvm:
        pae = bool(_feature(features, "pae"))
        fields["apic"] = bool(_feature(features, "apic"))
        fields["acpi"] = bool(_feature(features, "acpi"))
        b_hvm["pae"] = pae
        for key in ("apic", "acpi"):
            if not fields[key]:
                info(f"libvirt-no-{key}",
                     f"<features> has no <{key}/>: libvirt's driver then turns {key.upper()} off "
                     f"(libxl_defbool_set(&b_info->{key}, false)), unlike xl's default")
        loader = os_el.find("loader") if os_el is not None else None
        if os_el.attrib.get("firmware") == "efi" or (
                loader is not None and loader.attrib.get("type") == "pflash"):
            fields["bios"] = "ovmf"
            b_hvm["bios"] = "ovmf"
        slic = [t for t in os_el.findall("acpi") for t in t.findall("table")
                if t.attrib.get("type") == "slic"] if os_el is not None else []
        if slic:
            fields["acpi_firmware"] = slic[0].text.strip()
            b_hvm["acpi_firmware"] = fields["acpi_firmware"]
        emulator = devices.find("emulator") if devices is not None else None
        if emulator is not None and "qemu-dm" in emulator.text:
            info("libvirt-emulator",
                 f"<emulator>{emulator.text.strip()}</emulator> (line {emulator.line}) may be "
                 "qemu-xen-traditional: libvirt decides by running it with -help; xlrmrr plans "
                 "qemu-xen")
        _video(devices, source, fields, b_hvm, lines)
        b_hvm["rdm"] = {}
    fields["pci"] = _pci_devices(devices, source, findings)
    domain = DomainConfig(**fields)
    if fields["pci"] and hvm:
        info("libvirt-rdm-fixed",
             "libvirt's libxl driver sets no RDM option (libxl_conf.c: b_info.u.hvm.rdm, "
             "rdm_mem_boundary_memkb and each pcidevs[].rdm_policy stay unset): libxl reserves "
             "only the assigned devices' RMRRs (strategy ignore), each under the strict policy, "
             f"and moves low RAM below an RMRR above {LIBXL_RDM_MEM_BOUNDARY_MEMKB_DEFAULT // 1024} MiB "
             "(rdm_mem_boundary's default); the domain XML cannot change any of this")
    return domain, tuple(findings), LibvirtDomain(_libxl_json(domain, b_hvm), lines, source)


def _video(devices, source, fields, b_hvm, lines) -> None:
    """libxlMakeVideo over the first <video>, with libxlDomainDeviceDefPostParse's defaults."""
    videos = devices.findall("video") if devices is not None else []
    graphics = devices.findall("graphics") if devices is not None else []
    if not videos:
        if graphics:        # virDomainDefAddImplicitVideo: a default video for <graphics>
            kind, kb, _ = _VIDEO["cirrus"]
            fields["vga"], fields["video_memkb"] = kind, kb
            b_hvm["vga"] = {"kind": kind}
            return
        fields["vga"] = "none"
        b_hvm["vga"] = {"kind": "none"}
        b_hvm["nographic"] = True
        return
    model = videos[0].find("model")
    where = f"{source}:{(model or videos[0]).line}"
    vtype = model.attrib.get("type", "cirrus") if model is not None else "cirrus"
    if vtype not in _VIDEO:
        raise InputError(f"{where}: video type {vtype!r}: libvirt's libxl driver refuses it "
                         "('video type is not supported by libxl'); use cirrus, vga, xen or qxl")
    kind, default_kb, label = _VIDEO[vtype]
    vram = model.attrib.get("vram") if model is not None else None
    if vram is not None and not vram.strip().isdigit():
        raise InputError(f"{where}: vram={vram!r} is not a number of KiB")
    vram_kb = _count(vram.strip(), where, "vram") if vram is not None else 0
    kb = vram_kb or default_kb
    if kb < default_kb:
        raise InputError(f"{where}: vram='{kb}': libvirt's libxl driver refuses the domain "
                         f"('videoram must be at least {default_kb >> 10}MB for {label}')")
    fields["vga"], fields["video_memkb"] = kind, kb
    b_hvm["vga"] = {"kind": kind}
    lines["b_info.video_memkb"] = (model or videos[0]).line


def _pci_devices(devices, source, findings) -> tuple:
    """libxlMakePCIList: the PCI subsystem hostdevs in def->hostdevs order."""
    if devices is None:
        return ()
    out = []
    nets = [n for n in devices.findall("interface") if n.attrib.get("type") == "hostdev"]
    for net in nets:
        where = f"{source}:{net.line}"
        sbdf, line = _pci_address(net.find("source"), where)
        out.append(PciDevice(spec=f"<interface type='hostdev'> {sbdf} (line {net.line})",
                             sbdf=sbdf, line=line))
    for hd in devices.findall("hostdev"):
        where = f"{source}:{hd.line}"
        mode, kind = hd.attrib.get("mode", "subsystem"), hd.attrib.get("type")
        if mode != "subsystem":
            raise InputError(f"{where}: <hostdev mode={mode!r}>: libvirt refuses it for Xen "
                             "('hostdev mode is not supported'); PCI passthrough is "
                             "mode='subsystem' type='pci'")
        if kind != "pci":
            continue        # USB and SCSI host devices carry no PCI RMRR
        src = hd.find("source")
        sbdf, line = _pci_address(src, where)
        permissive = src.attrib.get("writeFiltering") == "no"
        out.append(PciDevice(spec=f"<hostdev> {sbdf} (line {hd.line})", sbdf=sbdf,
                             permissive=permissive, line=line))
    return tuple(out)


def _libxl_json(domain: DomainConfig, b_hvm: dict) -> dict:
    """libxl_domain_config as libxl_domain_config_to_json prints it, for the fields xlrmrr
    reads: c_info, b_info (and its type.hvm union member), pcidevs."""
    c_info = {"type": domain.type, "name": domain.name}
    if domain.hap is not None:
        c_info["hap"] = "True" if domain.hap else "False"
    b_info: dict = {"max_vcpus": domain.max_vcpus, "avail_vcpus": list(range(domain.vcpus)),
                    "max_memkb": domain.max_memkb, "target_memkb": domain.target_memkb}
    if domain.type == "hvm":
        if domain.video_memkb is not None:
            b_info["video_memkb"] = domain.video_memkb
        b_info["shadow_memkb"] = domain.shadow_memkb
        b_info["device_model_version"] = "qemu_xen"
        b_info["apic"] = "True" if domain.apic else "False"
        b_info["acpi"] = "True" if domain.acpi else "False"
        hvm = dict(b_hvm)
        hvm["pae"] = "True" if hvm.get("pae") else "False"
        if "nographic" in hvm:
            hvm["nographic"] = "True"
        b_info["type.hvm"] = hvm
    else:
        b_info["shadow_memkb"] = domain.shadow_memkb
        b_info[f"type.{domain.type}"] = {}
    pcidevs = []
    for d in domain.pci:
        dev = {k: v for k, v in (("domain", d.sbdf.seg), ("bus", d.sbdf.bus),
                                 ("dev", d.sbdf.dev), ("func", d.sbdf.fn)) if v}
        if d.permissive:
            dev["permissive"] = True
        dev["rdm_policy"] = "invalid"
        pcidevs.append(dev)
    out = {"c_info": c_info, "b_info": b_info}
    if pcidevs:
        out["pcidevs"] = pcidevs
    return out
