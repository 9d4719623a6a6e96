"""Internal networks: the addresses an upstream fetch must not be sent into.

A leaf module (the settings parse ``SYNDICATE_FETCH_INTERNAL_NETWORKS`` with it, the
fetch transport checks addresses with it).
"""

from __future__ import annotations

import ipaddress
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: The IANA special-purpose registries (IPv4 and IPv6) plus multicast: nothing an upstream
#: on the public internet may send us into.
DEFAULT_INTERNAL_NETWORKS: tuple[str, ...] = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.31.196.0/24", "192.52.193.0/24",
    "192.88.99.0/24", "192.168.0.0/16", "192.175.48.0/24", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    "::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64",
    "2001::/23", "2001:db8::/32", "2002::/16", "3fff::/20", "5f00::/16", "fc00::/7",
    "fe80::/10", "ff00::/8",
)
#: IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64).
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def parse_networks(value: Any) -> tuple[Network, ...]:
    """Read comma-separated CIDRs (or a list of them); raise ValueError naming a bad one."""
    parts = value if isinstance(value, (list, tuple)) else str(value).replace("\n", ",").split(",")
    networks: list[Network] = []
    for part in (str(p).strip() for p in parts):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError as error:
            raise ValueError(f"{part!r} is not a network such as 10.0.0.0/8 or fc00::/7") from error
    return tuple(networks)


def embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, NAT64), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None



def is_internal(text: str, networks: tuple[Network, ...]) -> bool:
    """Whether an address (as a resolver returns it) lies in one of ``networks``.

    An IPv6 address that stands for an IPv4 one is checked as both, so
    ``::ffff:127.0.0.1`` is as internal as ``127.0.0.1``.
    """
    address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
    candidates: list[Address] = [address]
    inner = embedded_ipv4(address)
    if inner is not None:
        candidates.append(inner)
    return any(a in network for a in candidates for network in networks
               if a.version == network.version)
