"""The xl config language: how libxlutil reads a .cfg file and how xl interprets it.

    parse_config(data, source) -> ConfigParse            what xlu_cfg_readdata stores and prints
    load_domain(data, source, xen_version) -> (DomainConfig, findings, ConfigParse)
"""

from __future__ import annotations


def parse_config(data: bytes, source: str):
    """Parse an xl config file exactly as libxlu (Xen 4.17's libxlutil) does."""
    from xlrmrr.xlcfg.parser import CfgParser

    return CfgParser().parse(data, source)


def load_domain(data: bytes, source: str, xen_version=None):
    """Parse a config and interpret it as xl's parse_config_data does for that Xen release."""
    from xlrmrr.xlcfg.xlparse import load_domain as _load

    return _load(data, source, xen_version)
