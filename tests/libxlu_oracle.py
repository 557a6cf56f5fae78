"""ctypes harness over Debian's libxlutil.so.4.17: Xen's own xl config, PCI spec and rdm parsers.

Every call runs in a forked child, because libxlu aborts the process on some inputs (a NUL byte
inside a quoted string fails an assert in its dequote). The child captures libxlu's report stream
with open_memstream, walks the settings list (struct XLU_Config and XLU_ConfigSetting from
tools/libs/util/libxlu_internal.h) and sends the result back as JSON through a pipe.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import signal

LIBXLU_PATH = "/usr/lib/x86_64-linux-gnu/libxlutil.so.4.17"

XLU_STRING, XLU_LIST = 0, 1
XLU_OP_ADDITION = 1
SENTINEL = 0x5A5A5A5A     # marks a libxl field the parser left untouched


class _ConfigValue(ctypes.Structure):
    pass


class _ConfigList(ctypes.Structure):
    _fields_ = [("avalues", ctypes.c_int), ("nvalues", ctypes.c_int),
                ("values", ctypes.POINTER(ctypes.POINTER(_ConfigValue)))]


class _ValueUnion(ctypes.Union):
    _fields_ = [("string", ctypes.c_char_p), ("list", _ConfigList)]


class _Loc(ctypes.Structure):
    _fields_ = [("first_line", ctypes.c_int), ("first_column", ctypes.c_int),
                ("last_line", ctypes.c_int), ("last_column", ctypes.c_int)]


_ConfigValue._fields_ = [("type", ctypes.c_int), ("u", _ValueUnion), ("loc", _Loc)]


class _Setting(ctypes.Structure):
    pass


_Setting._fields_ = [("next", ctypes.POINTER(_Setting)), ("name", ctypes.c_char_p),
                     ("value", ctypes.POINTER(_ConfigValue)), ("op", ctypes.c_int),
                     ("lineno", ctypes.c_int)]


class _Config(ctypes.Structure):
    _fields_ = [("settings", ctypes.POINTER(_Setting)), ("report", ctypes.c_void_p),
                ("config_source", ctypes.c_char_p)]


class DevicePci(ctypes.Structure):
    """libxl_device_pci (4.17 IDL order)."""

    _fields_ = [("func", ctypes.c_uint8), ("dev", ctypes.c_uint8), ("bus", ctypes.c_uint8),
                ("domain", ctypes.c_int), ("vdevfn", ctypes.c_uint32),
                ("vfunc_mask", ctypes.c_uint32), ("msitranslate", ctypes.c_bool),
                ("power_mgmt", ctypes.c_bool), ("permissive", ctypes.c_bool),
                ("seize", ctypes.c_bool), ("rdm_policy", ctypes.c_int),
                ("name", ctypes.c_char_p)]


class RdmReserve(ctypes.Structure):
    _fields_ = [("strategy", ctypes.c_int), ("policy", ctypes.c_int)]


def available() -> bool:
    return os.path.exists(LIBXLU_PATH)


class _Lib:
    def __init__(self):
        self.xlu = ctypes.CDLL(LIBXLU_PATH)
        self.libc = ctypes.CDLL(ctypes.util.find_library("c"))
        x, c = self.xlu, self.libc
        x.xlu_cfg_init.restype = ctypes.POINTER(_Config)
        x.xlu_cfg_init.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        x.xlu_cfg_readdata.argtypes = [ctypes.POINTER(_Config), ctypes.c_char_p, ctypes.c_int]
        x.xlu_cfg_get_long.argtypes = [ctypes.POINTER(_Config), ctypes.c_char_p,
                                       ctypes.POINTER(ctypes.c_long), ctypes.c_int]
        x.xlu_pci_parse_spec_string.argtypes = [ctypes.POINTER(_Config),
                                                ctypes.POINTER(DevicePci), ctypes.c_char_p]
        x.xlu_pci_parse_bdf.argtypes = x.xlu_pci_parse_spec_string.argtypes
        x.xlu_rdm_parse.argtypes = [ctypes.POINTER(_Config), ctypes.POINTER(RdmReserve),
                                    ctypes.c_char_p]
        c.open_memstream.restype = ctypes.c_void_p
        c.open_memstream.argtypes = [ctypes.POINTER(ctypes.c_char_p),
                                     ctypes.POINTER(ctypes.c_size_t)]
        c.fflush.argtypes = [ctypes.c_void_p]
        c.fclose.argtypes = [ctypes.c_void_p]

    def stream(self):
        buf, size = ctypes.c_char_p(), ctypes.c_size_t()
        f = self.libc.open_memstream(ctypes.byref(buf), ctypes.byref(size))
        return f, buf, size

    def drain(self, f, buf, size) -> str:
        self.libc.fflush(f)
        text = ctypes.string_at(buf, size.value) if size.value else b""
        return text.decode("utf-8", "surrogateescape")


_LIB: _Lib | None = None


def _lib() -> _Lib:
    global _LIB
    if _LIB is None:
        _LIB = _Lib()
    return _LIB


def _value(v) -> str | list:
    """A value as str (surrogateescape) or nested lists, without recursion."""
    root: list = []
    stack = [(v, root)]
    while stack:
        cur, out = stack.pop()
        c = cur.contents
        if c.type == XLU_STRING:
            out.append(c.u.string.decode("utf-8", "surrogateescape"))
        else:
            items: list = []
            out.append(items)
            lst = c.u.list
            stack.extend((lst.values[i], items) for i in reversed(range(lst.nvalues)))
    return root[0]


def value_json(v) -> str:
    """JSON text of a value (str or nested lists) without recursion: deep lists are legal."""
    out: list[str] = []
    stack: list = [v]
    while stack:
        cur = stack.pop()
        if isinstance(cur, str) and cur in ("]", ", ") and stack and stack[-1] is _MARK:
            stack.pop()
            out.append(cur)
        elif isinstance(cur, list):
            out.append("[")
            stack.extend((_MARK, "]"))
            for i in reversed(range(len(cur))):
                stack.append(cur[i])
                if i:
                    stack.extend((_MARK, ", "))
        else:
            out.append(json.dumps(cur))
    return "".join(out)


_MARK = object()
DEEP = 200


def _depth(v) -> int:
    depth, stack = 0, [(v, 1)]
    while stack:
        cur, d = stack.pop()
        if isinstance(cur, list):
            depth = max(depth, d)
            stack.extend((x, d + 1) for x in cur)
    return depth


def _settings(cfg, history: bool) -> tuple[dict, list]:
    view: dict = {}
    hist: list = []
    s = cfg.contents.settings
    while s:
        c = s.contents
        name = c.name.decode("utf-8", "surrogateescape")
        entry = {"kind": "string" if c.value.contents.type == XLU_STRING else "list",
                 "value": _value(c.value), "line": c.lineno,
                 "op": "+=" if c.op == XLU_OP_ADDITION else "="}
        if _depth(entry["value"]) > DEEP:
            entry["value"] = {"deep_json": value_json(entry["value"])}
        view.setdefault(name, entry)
        if history:
            hist.append(dict(entry, name=name))
        s = c.next
    hist.reverse()
    return view, hist


def _in_child(fn):
    """Run fn() in a forked child; return its JSON result or {'crash': SIGNAME}."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            import faulthandler
            faulthandler.disable()
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)     # libc's assert message on SIGABRT
            data = json.dumps(fn()).encode()
            with os.fdopen(w, "wb") as f:
                f.write(data)
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return {"crash": signal.Signals(os.WTERMSIG(status)).name}
    return json.loads(data)


def parse(data: bytes, source: str = "test.cfg", history: bool = False,
          getters: tuple[str, ...] = ()) -> dict:
    """xlu_cfg_readdata, as `xl create` calls it. Returns ok, rc, report, settings (when ok)
    or partial_settings (when not), optional history, and xlu_cfg_get_long results."""
    def run():
        lib = _lib()
        f, buf, size = lib.stream()
        cfg = lib.xlu.xlu_cfg_init(f, source.encode("utf-8", "surrogateescape"))
        rc = lib.xlu.xlu_cfg_readdata(cfg, data, len(data))
        view, hist = _settings(cfg, history)
        out = {"ok": rc == 0, "rc": rc, "report": lib.drain(f, buf, size)}
        out["settings" if rc == 0 else "partial_settings"] = view
        if history:
            out["history"] = hist
        longs = {}
        for name in getters:
            v = ctypes.c_long()
            grc = lib.xlu.xlu_cfg_get_long(cfg, name.encode(), ctypes.byref(v), 0)
            longs[name] = [grc, v.value if grc == 0 else None]
        if getters:
            out["longs"] = longs
            out["getter_report"] = lib.drain(f, buf, size)[len(out["report"]):]
        return out
    return _in_child(run)


def _pci_fields(p: DevicePci) -> dict:
    return {"domain": p.domain, "bus": p.bus, "dev": p.dev, "func": p.func,
            "vdevfn": p.vdevfn, "vfunc_mask": p.vfunc_mask,
            "msitranslate": p.msitranslate, "power_mgmt": p.power_mgmt,
            "permissive": p.permissive, "seize": p.seize, "rdm_policy": p.rdm_policy,
            "name": p.name.decode("utf-8", "surrogateescape") if p.name is not None else None}


def pci_spec(spec: str, old_bdf: bool = False) -> dict:
    """xlu_pci_parse_spec_string (or xlu_pci_parse_bdf) on a zeroed device with
    rdm_policy = -1 (LIBXL_RDM_RESERVE_POLICY_INVALID), as libxl_device_pci_init leaves it."""
    def run():
        lib = _lib()
        f, buf, size = lib.stream()
        cfg = lib.xlu.xlu_cfg_init(f, b"test.cfg")
        dev = DevicePci()
        dev.rdm_policy = -1
        fn = lib.xlu.xlu_pci_parse_bdf if old_bdf else lib.xlu.xlu_pci_parse_spec_string
        rc = fn(cfg, ctypes.byref(dev), spec.encode("utf-8", "surrogateescape"))
        return {"rc": rc, "report": lib.drain(f, buf, size), "pci": _pci_fields(dev)}
    return _in_child(run)


def rdm(text: str) -> dict:
    """xlu_rdm_parse on a struct holding SENTINEL, so untouched fields show as 'unset'."""
    def run():
        lib = _lib()
        f, buf, size = lib.stream()
        cfg = lib.xlu.xlu_cfg_init(f, b"test.cfg")
        r = RdmReserve(SENTINEL, SENTINEL)
        rc = lib.xlu.xlu_rdm_parse(cfg, ctypes.byref(r), text.encode("utf-8", "surrogateescape"))
        names = {0: "ignore", 1: "host"}
        pol = {-1: "invalid", 0: "strict", 1: "relaxed"}
        return {"rc": rc, "report": lib.drain(f, buf, size),
                "strategy": "unset" if r.strategy == SENTINEL else names.get(r.strategy),
                "policy": "unset" if r.policy == SENTINEL else pol.get(r.policy)}
    return _in_child(run)
