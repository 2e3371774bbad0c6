"""A privacy policy: a Snapshot in, the Snapshot an exporter may see out (a pure function,
computed once per Snapshot and policy with Snapshot.derived, so encoders stay as they are).

What it does, each part optional (config `privacy`, per exporter `export.<name>.privacy`):
- anonymise (Crypto-PAn, prefix-preserving) every exported address: flows' inner and outer
  addresses, mirror streams' outer ones, top talkers' sources (a non-IP source, a MAC, is
  hashed), BGP neighbors, BFD peers and local addresses, LLDP management addresses;
- leave out flows whose inner source or destination, and talkers whose source, is in an
  `exclude` prefix (the original addresses are matched; how many left this Snapshot is counted);
- replace the text fields named in `hash` by a keyed hash (HMAC-SHA256, 16 hex digits: equal
  values stay equal, so a label still groups) and blank those named in `drop` (an empty text
  is no series, no attribute, no leaf). Names are the catalogue's: `FIELDS` (device, port
  and BGP neighbor texts) and every text field of a SONiC table (`lldp.system_name`, ...).
No payload byte is in a Snapshot, so none ever leaves the agent through an exporter. Mirror
jobs (`jobs.privacy`, the top-level section unless given) pass their flows through `flows`-like
`excluded_flow` and `flow`, and their capture, the one opt-in exception, through `frame`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import ipaddress
import os
import stat
from typing import TYPE_CHECKING, Callable, Dict, List, Mapping, Optional, Tuple

from ..catalogue import CATALOGUE, INFO, Catalogue
from ..config import EXPORTERS, AgentConfig, PrivacyConfig
from ..errors import UserError
from ..records import Row, Snapshot
from . import KEY_BYTES

if TYPE_CHECKING:
    from .cryptopan import Anonymizer

# Text fields of the Snapshot's own records, by catalogue name: (Snapshot field, attribute).
FIELDS: Dict[str, Tuple[str, str]] = {
    "device.hostname": ("device", "hostname"), "device.mac": ("device", "mac"),
    "port.description": ("ports", "description"), "port.alias": ("ports", "alias"),
    "bgp.name": ("bgp_peers", "name"),
}
# Addresses in table rows: entity -> (key positions, value names).
ROW_ADDRESSES: Dict[str, Tuple[Tuple[int, ...], Tuple[str, ...]]] = {
    "bgp_state": ((1,), ()), "bfd_session": ((2,), ("bfd.local_addr",)),
    "lldp_neighbor": ((), ("lldp.management_address",)),
}
HASH_LABEL = b"telegen-sonic identifiers"  # the HMAC key is derived from the key file with this


def row_fields(catalogue: Catalogue) -> Dict[str, str]:
    """Every text field of a table entity: metric name -> its entity's name."""
    return {m.name: m.entity.name for m in catalogue if m.kind == INFO and m.entity.table is not None}


def read_key(path: str, what: str) -> bytes:
    """The 32-byte key file, which must not be readable by others."""
    try:
        with open(path, "rb") as f:
            info = os.fstat(f.fileno())
            key = f.read(KEY_BYTES + 1)
    except OSError as exc:
        raise UserError(f"{what}: cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise UserError(f"{what}: {path} is not a regular file")
    if len(key) != KEY_BYTES:
        raise UserError(f"{what}: {path} must hold exactly {KEY_BYTES} bytes (AES key, then pad), "
                        f"it holds {'more' if len(key) > KEY_BYTES else len(key)}")
    if info.st_mode & stat.S_IROTH:
        raise UserError(f"{what}: {path} is readable by others (chmod o-r)")
    return key


class PrivacyPolicy:
    """One exporter's policy; `apply(snapshot)` is what that exporter encodes."""

    def __init__(self, cfg: PrivacyConfig, where: str, anonymizer: Optional[Anonymizer], hash_key: Optional[bytes],
                 catalogue: Catalogue = CATALOGUE):
        self._anonymizer = anonymizer if cfg.anonymize else None
        self._excluded = [ipaddress.ip_network(p, strict=False) for p in cfg.exclude]
        self._hash_key = hash_key
        rows = row_fields(catalogue)
        for i, name in enumerate(cfg.hash + cfg.drop):
            if name not in FIELDS and name not in rows:
                what = f"{where}.hash[{i}]" if i < len(cfg.hash) else f"{where}.drop[{i - len(cfg.hash)}]"
                raise UserError(f"config: {what}: {name[:60]!r} is not a text field the policy knows "
                                "(device.hostname, port.description, bgp.name, lldp.system_name, ...: README, Privacy)")
        self._texts: Dict[str, Callable[[str], str]] = {name: self.hashed for name in cfg.hash}
        self._texts.update({name: lambda text: "" for name in cfg.drop})
        self._record_texts = {name: fn for name, fn in self._texts.items() if name in FIELDS}
        self._row_texts: Dict[str, Dict[str, Callable[[str], str]]] = {}
        for name, fn in self._texts.items():
            if name in rows:
                self._row_texts.setdefault(rows[name], {})[name] = fn

    def apply(self, snap: Snapshot) -> Snapshot:
        return snap.derived(("privacy", id(self)), lambda: self._redact(snap))

    def hashed(self, text: str) -> str:
        if not text:
            return text
        return hmac.new(self._hash_key, text.encode(), hashlib.sha256).hexdigest()[:16]

    def address(self, text: Optional[str]) -> Optional[str]:
        return self._anonymizer.text(text) if self._anonymizer is not None and text else text

    def excluded_flow(self, f) -> bool:
        return bool(self._excluded) and (self.excluded(f.src) or self.excluded(f.dst))

    def frame(self, data: bytes) -> Optional[bytes]:
        """A mirror job's captured frame as this policy keeps it (privacy.frames), None if excluded."""
        from .frames import redact_frame  # the decoder's layer constants, and numpy: only with jobs
        return redact_frame(data, self._packed if self._anonymizer is not None else None,
                            self._packed_excluded if self._excluded else None)

    def _packed_excluded(self, raw: bytes) -> bool:
        return self.excluded(str(ipaddress.ip_address(raw)))

    def _packed(self, raw: bytes) -> bytes:
        return ipaddress.ip_address(self.address(str(ipaddress.ip_address(raw)))).packed

    def excluded(self, text: Optional[str]) -> bool:
        if not self._excluded or not text:
            return False
        try:
            address = ipaddress.ip_address(text.split("%")[0])
        except ValueError:
            return False
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:10.1.2.3 is 10.1.2.3
        return any(address in net for net in self._excluded)

    def _redact(self, snap: Snapshot) -> Snapshot:
        flows, talkers = snap.flows, snap.probe_talkers
        if self._excluded:
            flows = [f for f in flows if not self.excluded_flow(f)]
            talkers = [t for t in talkers if not self.excluded(t.src)]
        changes = dict(flows=[self.flow(f) for f in flows], sessions=[self.stream(s) for s in snap.sessions],
                       probe_talkers=[self._talker(t) for t in talkers], families=self._families(snap.families))
        for name, fn in self._record_texts.items():
            field_name, attr = FIELDS[name]
            changes[field_name] = _with_text(changes.get(field_name, getattr(snap, field_name)), attr, fn)
        if self._anonymizer is not None:
            changes["bgp_peers"] = [_replace(p, address=self.address(p.address))
                                    for p in changes.get("bgp_peers", snap.bgp_peers)]
        agent = dict(snap.agent, privacy_flows_excluded=float(len(snap.flows) - len(flows)),
                     privacy_talkers_excluded=float(len(snap.probe_talkers) - len(talkers)))
        if self._anonymizer is not None:
            agent.update(self._anonymizer.counters())
        return dataclasses.replace(snap, agent=agent, **changes)

    def flow(self, f):
        """A flow record (the agent's or the erspan library's) with its addresses anonymised."""
        if self._anonymizer is None:
            return f
        return _replace(f, src=self.address(f.src), dst=self.address(f.dst),
                        outer_src=self.address(f.outer_src), outer_dst=self.address(f.outer_dst))

    def stream(self, s):
        """A mirror stream's record (the agent's or the library's) with its outer addresses anonymised."""
        if self._anonymizer is None:
            return s
        return _replace(s, outer_src=self.address(s.outer_src), outer_dst=self.address(s.outer_dst))

    def _talker(self, t):
        if self._anonymizer is None:
            return t
        anonymised = self.address(t.src)
        return _replace(t, src=anonymised if anonymised != t.src else self.hashed(t.src))

    def _families(self, families: Mapping[str, List[Row]]) -> Mapping[str, List[Row]]:
        touched = set(self._row_texts) | (set(ROW_ADDRESSES) if self._anonymizer is not None else set())
        if not touched & set(families):
            return families
        out = dict(families)
        for entity in touched & set(families):
            out[entity] = [self._row(entity, r) for r in families[entity]]
        return out

    def _row(self, entity: str, row: Row) -> Row:
        key, values = row.key, dict(row.values)
        for name, fn in self._row_texts.get(entity, {}).items():
            if isinstance(values.get(name), str):
                values[name] = fn(values[name])
        if self._anonymizer is not None and entity in ROW_ADDRESSES:
            positions, names = ROW_ADDRESSES[entity]
            key = tuple(self.address(k) if i in positions else k for i, k in enumerate(key))
            for name in names:
                if isinstance(values.get(name), str):
                    values[name] = ",".join(self.address(part) for part in values[name].split(","))
        return _replace(row, key=key, values=values)


def _replace(record, **changes):
    """`dataclasses.replace` at a third of its cost, for frozen records without __post_init__
    (flows come by the thousand): a copy of the record's fields with `changes`."""
    out = object.__new__(type(record))
    out.__dict__.update(record.__dict__, **changes)
    return out


def _with_text(records, attr: str, fn: Callable[[str], str]):
    """A record, or each of a list of them, with text attribute `attr` passed through `fn`."""
    if isinstance(records, list):
        return [_replace(r, **{attr: fn(getattr(r, attr))}) for r in records]
    return _replace(records, **{attr: fn(getattr(records, attr))})


class Policies:
    """Every exporter's policy from the config: one Anonymizer (and cache) per key file."""

    def __init__(self, default: PrivacyConfig, per_exporter: Dict[str, Optional[PrivacyConfig]],
                 catalogue: Catalogue = CATALOGUE):
        self._anonymizers: Dict[Tuple[str, int], Anonymizer] = {}
        self.by_exporter: Dict[str, Optional[PrivacyPolicy]] = {}
        built: Dict[str, Optional[PrivacyPolicy]] = {}  # exporters with equal settings share one (and its Snapshots)
        for name, own in per_exporter.items():
            section = f"export.{name}.privacy" if name in EXPORTERS else f"{name}.privacy"  # jobs.privacy
            cfg, where = (own, section) if own is not None else (default, "privacy")
            if repr(cfg) not in built:
                built[repr(cfg)] = self._policy(cfg, where, catalogue)
            self.by_exporter[name] = built[repr(cfg)]

    @classmethod
    def of(cls, cfg: AgentConfig, catalogue: Catalogue = CATALOGUE) -> "Policies":
        """Every exporter's policy and the mirror jobs' API's (`jobs.privacy`, as "jobs")."""
        return cls(cfg.privacy, {**{name: getattr(cfg.export, name).privacy for name in EXPORTERS},
                                 "jobs": cfg.jobs.privacy}, catalogue)

    def _policy(self, cfg: PrivacyConfig, where: str, catalogue: Catalogue) -> Optional[PrivacyPolicy]:
        if not (cfg.anonymize or cfg.exclude or cfg.hash or cfg.drop):
            return None  # raw
        if (cfg.anonymize or cfg.hash) and not cfg.key_file:
            raise UserError(f"config: {where}.key_file: required by {where}.anonymize and {where}.hash")
        key = read_key(cfg.key_file, f"{where}.key_file") if cfg.key_file else None
        anonymizer = None
        if cfg.anonymize:
            anonymizer = self._anonymizers.get((cfg.key_file, cfg.cache_entries))
            if anonymizer is None:
                from .cryptopan import Anonymizer
                anonymizer = self._anonymizers[(cfg.key_file, cfg.cache_entries)] = Anonymizer(key, cfg.cache_entries)
        hash_key = hmac.new(key, HASH_LABEL, hashlib.sha256).digest() if key else None
        return PrivacyPolicy(cfg, where, anonymizer, hash_key, catalogue)

    def wrap(self, exporter: str, snapshot_fn: Callable[[], Snapshot]) -> Callable[[], Snapshot]:
        """What `exporter` reads: the feed's Snapshot through its policy (as it is when raw)."""
        policy = self.by_exporter.get(exporter)
        return snapshot_fn if policy is None else (lambda: policy.apply(snapshot_fn()))
