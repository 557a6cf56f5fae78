"""The xl config language: how libxlutil reads a .cfg file and how xl interprets it.

    parse_config(data, source) -> ConfigParse            what xlu_cfg_readdata stores and prints
    load_domain(data, source, xen_version) -> (DomainConfig, findings, ConfigParse)
    load_domain(data, source, xen_version, parse)   the same from an earlier parse of `data`

A libvirt domain XML (detected by content: it starts with '<') is read as libvirt's libxl
driver builds it instead (xlrmrr.xlcfg.libvirt); its ConfigParse then holds no settings.
"""

from __future__ import annotations

import functools


def parse_config(data: bytes, source: str):
    """Parse an xl config file exactly as libxlu (Xen 4.17's libxlutil) does."""
    return _parser().parse(data, source)


@functools.lru_cache(maxsize=1)
def _parser():
    """One parser per process: its tables and compiled lexer are reused for every file."""
    from xlrmrr.xlcfg.parser import CfgParser

    return CfgParser()


def load_domain(data: bytes, source: str, xen_version=None, parse=None):
    """Parse a config and interpret it as xl's parse_config_data does for that Xen release.
    libxlu's parse does not depend on the release: `parse`, the ConfigParse of the same data
    and source, lets a caller interpret one file as several releases without parsing it again."""
    if is_domain_xml(data):
        from xlrmrr.xlcfg.libvirt import load_domain as _load_xml
        from xlrmrr.xlcfg.settings import ConfigParse

        domain, findings, _lv = _load_xml(data, source, xen_version)
        return domain, findings, ConfigParse(source, True, 0)
    from xlrmrr.xlcfg.xlparse import load_domain as _load

    return _load(data, source, xen_version, parse)


def is_domain_xml(data: bytes) -> bool:
    """libvirt domain XML starts with '<' (after a BOM and blanks); xl's lexer rejects '<'
    outside a string, so no xl config can."""
    return data[:4096].lstrip(b"\xef\xbb\xbf").lstrip().startswith(b"<")
