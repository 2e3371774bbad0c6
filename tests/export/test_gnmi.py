"""The gNMI server against pygnmi, which runs in its own process (tests/export/gnmi_client.py)."""
from __future__ import annotations

import dataclasses
import json
import time
from types import SimpleNamespace

import grpc
import pytest
from pygnmi.spec.v080 import gnmi_pb2, gnmi_pb2_grpc

from sonic_agent.config import GnmiConfig, ServerTlsConfig
from sonic_agent.errors import UserError
from sonic_agent.export.gnmi import GnmiServer
from sonic_agent.export.gnmi_paths import EVERYTHING, from_proto, leaves, path_text, snapshot_leaves
from sonic_agent.records import Row
from tests.export.certs import make_certs
from tests.export.gnmi_client import MARK, next_result, start
from tests.export.sample import CLASSES, sample_snapshot


class Model:
    """Stands for the live model: a snapshot that changes, and a change feed."""

    def __init__(self):
        self.snap = sample_snapshot(ports=4, flows=3)
        self.callbacks = []

    def snapshot(self):
        return self.snap

    def subscribe(self, callback):
        self.callbacks.append(callback)
        return lambda: self.callbacks.remove(callback)

    def set_oper_status(self, port, status):
        self.snap = dataclasses.replace(self.snap, ports=[
            dataclasses.replace(p, oper_status=status) if p.name == port else p for p in self.snap.ports])
        for callback in self.callbacks:
            callback([SimpleNamespace(db="APPL_DB", table="PORT_TABLE", key=port, op="set")])


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def model():
    return Model()


@pytest.fixture
def server(model, certs):
    cfg = GnmiConfig(enabled=True, listen="127.0.0.1:0", username="admin", password="s3cret",
                     tls=ServerTlsConfig(cert=certs.server_cert, key=certs.server_key, client_ca=certs.ca))
    srv = GnmiServer(cfg, model.snapshot, model.subscribe).start()
    yield srv
    srv.stop(0)


def pygnmi(server, certs, scenario, password="s3cret", client_cert=True, **extra):
    spec = {"port": server.port, "ca": certs.ca, "username": "admin", "password": password, "scenario": scenario,
            **extra}
    if client_cert:
        spec.update(cert=certs.client_cert, key=certs.client_key)
    return start(spec)


def lines(proc, timeout=30):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return [json.loads(line[len(MARK):]) for line in out.splitlines() if line.startswith(MARK)]


def updates(response) -> dict:
    return {u["path"]: u["val"] for u in response["update"]["update"]}


def test_capabilities(server, certs):
    caps = lines(pygnmi(server, certs, "capabilities"))[0]["result"]
    assert set(caps["supported_encodings"]) == {"json", "json_ietf"}
    assert caps["gnmi_version"] == "0.8.0"
    assert {"name": "openconfig-interfaces", "organization": "OpenConfig working group", "version": "3.0.0"} \
        in caps["supported_models"]


def test_server_tls_without_client_certificates(model, certs):
    cfg = GnmiConfig(listen="127.0.0.1:0", username="admin", password="s3cret",
                     tls=ServerTlsConfig(cert=certs.server_cert, key=certs.server_key))
    server = GnmiServer(cfg, model.snapshot).start()
    try:
        caps = lines(pygnmi(server, certs, "capabilities", client_cert=False))[0]["result"]
        assert "json_ietf" in caps["supported_encodings"]
    finally:
        server.stop(0)


def test_wrong_password_is_unauthenticated(server, certs):
    assert lines(pygnmi(server, certs, "capabilities", password="nope"))[0] == {"error": "UNAUTHENTICATED"}


def test_get_json_ietf_and_json(server, certs):
    got, missing = lines(pygnmi(server, certs, "get"))
    ietf = got["json_ietf"]["notification"]
    assert all(n["timestamp"] > 0 for n in ietf)
    counters = {u["path"]: u["val"] for u in ietf[0]["update"]}
    assert counters["interfaces/interface[name=Ethernet0]/state/counters/in-octets"] == "1000"  # uint64: string
    assert counters["interfaces/interface[name=Ethernet0]/state/counters/out-discards"] == "1011"
    assert len(counters) == 12
    probes = {u["path"]: u["val"] for u in ietf[1]["update"]}
    assert probes["telegen/probes/probe[class=bgp][direction=tx][port=Ethernet12]/state/packets"] == \
        str(1000 + CLASSES.index("bgp"))
    assert len(probes) == 4 * 2 * 2  # ports x directions x (packets, bytes)
    oper = got["json"]["notification"][0]["update"]
    assert oper == [{"path": "interfaces/interface[name=Ethernet4]/state/oper-status", "val": "UP"}]
    assert missing == {"missing": "NOT_FOUND"}


def test_subscribe_once(server, certs):
    responses = lines(pygnmi(server, certs, "once"))[0]["updates"]
    assert responses[-1] == {"sync_response": True}
    got = {}
    for r in responses[:-1]:
        assert r["update"]["timestamp"] > 0
        got.update(updates(r))
    assert got["interfaces/interface[name=Ethernet0]/state/counters/in-octets"] == "1000"
    flows = {p: v for p, v in got.items() if p.startswith("telegen/flows/flow")}
    flow = ("telegen/flows/flow[direction=rx][dst-address=10.2.0.1][dst-port=443][erspan-type=2][outer-dst=10.0.0.2]"
            "[outer-src=10.0.0.1][protocol=17][session=everflow0][session-id=1][src-address=10.1.0.1][src-port=1024]"
            "[vlan=]/state/")  # keyed by all the decoder keeps apart: its mirror stream, session id, VLAN, type
    assert flows[flow + "packets"] == "100"
    assert flows[flow + "estimated-packets"] == "10000"  # sample_rate 100
    assert len({p.split("/state/")[0] for p in flows}) == 3


def test_subscribe_poll_follows_the_model(server, certs, model):
    proc = pygnmi(server, certs, "poll")
    first = next_result(proc)
    model.snap = sample_snapshot(ports=4, flows=3, counter_base=5000)
    rest = lines(proc)  # closes the client's stdin: its next polls go out, after the change
    values = [updates(p["poll"])["interfaces/interface[name=Ethernet0]/state/counters/in-octets"]
              for p in [first] + rest]
    assert values[0] == 1000 and values[-1] == 5000  # JSON encoding: a number


def test_subscribe_stream_sample(server, certs, model):
    got = lines(pygnmi(server, certs, "sample"))
    initial, second, third = got
    assert initial["update"]["sync_response"] is True
    assert updates(initial["update"])["interfaces/interface[name=Ethernet0]/state/counters/in-octets"] == "1000"
    for sample in (second, third):
        assert updates(sample["update"]) == {"interfaces/interface[name=Ethernet0]/state/counters/in-octets": "1000"}
    assert third["at"] - second["at"] > 0.7  # the 1 s interval is kept, not flooded


def test_subscribe_on_change_within_one_second(server, certs, model):
    proc = pygnmi(server, certs, "on_change")
    initial = next_result(proc)
    assert updates(initial["initial"]) == {
        f"interfaces/interface[name={name}]/state/oper-status": "UP"
        for name in ("Ethernet0", "Ethernet4", "Ethernet8", "Ethernet12", "PortChannel0001")}
    changed_at = time.time()
    model.set_oper_status("Ethernet4", "down")
    change = lines(proc)[0]
    assert updates(change["change"]) == {"interfaces/interface[name=Ethernet4]/state/oper-status": "DOWN"}
    assert change["at"] - changed_at < 1.0


def test_a_removed_port_is_deleted_on_change(model):
    server = GnmiServer(GnmiConfig(listen="127.0.0.1:0"), model.snapshot, model.subscribe).start()
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        path = gnmi_pb2.Path(elem=[gnmi_pb2.PathElem(name="interfaces"), gnmi_pb2.PathElem(name="interface")])
        request = gnmi_pb2.SubscribeRequest(subscribe=gnmi_pb2.SubscriptionList(
            subscription=[gnmi_pb2.Subscription(path=path, mode=gnmi_pb2.ON_CHANGE)], encoding=gnmi_pb2.JSON))
        stream = gnmi_pb2_grpc.gNMIStub(channel).Subscribe(iter([request]), timeout=10)
        while not next(stream).sync_response:
            pass
        counters = server.agent_counters()
        assert counters["gnmi_subscriptions"] == 1 and not any(v for k, v in counters.items() if k.endswith("_total"))
        model.snap = sample_snapshot(ports=4, flows=3, drop_port="Ethernet8")
        model.callbacks[-1]([SimpleNamespace(db="CONFIG_DB", table="PORT", key="Ethernet8", op="del")])
        deleted = next(stream).update.delete
        assert deleted and all(p.elem[1].key["name"] == "Ethernet8" for p in deleted)
        stream.cancel()
    finally:
        channel.close()
        server.stop(0)
    assert not model.callbacks  # stop() unsubscribed


def test_target_defined_sends_state_on_change_and_samples_counters(model):
    server = GnmiServer(GnmiConfig(listen="127.0.0.1:0"), model.snapshot, model.subscribe).start()
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        path = gnmi_pb2.Path(elem=[gnmi_pb2.PathElem(name="interfaces"),
                                   gnmi_pb2.PathElem(name="interface", key={"name": "Ethernet4"})])
        request = gnmi_pb2.SubscribeRequest(subscribe=gnmi_pb2.SubscriptionList(
            subscription=[gnmi_pb2.Subscription(path=path, mode=gnmi_pb2.TARGET_DEFINED)], encoding=gnmi_pb2.JSON))
        stream = gnmi_pb2_grpc.gNMIStub(channel).Subscribe(iter([request]), timeout=10)
        initial = []
        for response in stream:
            if response.sync_response:
                break
            initial += [p.elem[-1].name for p in (u.path for u in response.update.update)]
        assert {"oper-status", "in-octets", "out-discards"} <= set(initial)
        model.snap = sample_snapshot(ports=4, flows=3, counter_base=7000)  # counters move: sampled later
        model.set_oper_status("Ethernet4", "down")
        change = next(stream).update
        assert [(u.path.elem[-1].name, json.loads(u.val.json_val)) for u in change.update] == [("oper-status", "DOWN")]
        stream.cancel()
    finally:
        channel.close()
        server.stop(0)


def test_plain_text_only_on_loopback(model):
    with pytest.raises(UserError, match="refusing plain text"):
        GnmiServer(GnmiConfig(listen="0.0.0.0:0"), model.snapshot)


def test_a_port_taken_is_one_error_naming_the_key(model):
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        listen = f"127.0.0.1:{taken.getsockname()[1]}"
        server = GnmiServer(GnmiConfig(listen=listen), model.snapshot)
        with pytest.raises(UserError, match=f"^export\\.gnmi\\.listen: cannot bind {listen}$"):
            server.start()
        server.stop(0)


def test_lag_vlan_and_queue_leaves(model):
    leaves = {"/".join(name + "".join(f"[{k}={v}]" for k, v in keys) for name, keys in path): value
              for path, value in snapshot_leaves(model.snap).items()}
    assert leaves["interfaces/interface[name=PortChannel0001]/aggregation/state/member"] == ["Ethernet0", "Ethernet4"]
    assert leaves["interfaces/interface[name=Ethernet4]/ethernet/state/aggregate-id"] == "PortChannel0001"
    assert leaves["telegen/ports/port[name=Ethernet4]/state/lag-member-status"] == "disabled"
    assert {p: v for p, v in leaves.items() if "/vlans/" in p} == {
        "telegen/ports/port[name=Ethernet8]/vlans/vlan[name=Vlan1000]/state/tagging-mode": "untagged",
        "telegen/ports/port[name=PortChannel0001]/vlans/vlan[name=Vlan1000]/state/tagging-mode": "tagged"}
    queue = "qos/interfaces/interface[interface-id=Ethernet4]/output/queues/queue[name=1]/state/"
    assert {p[len(queue):]: v for p, v in leaves.items() if p.startswith(queue)} == {
        "transmit-pkts": 1010, "transmit-octets": 1011, "dropped-pkts": 1012, "dropped-octets": 1013}
    own = "telegen/ports/port[name=Ethernet4]/queues/queue[index=1]/state/"
    assert {p[len(own):]: v for p, v in leaves.items() if p.startswith(own)} == {
        "type": "multicast", "shared-watermark-bytes": 1014}


def test_leaves_cover_every_record_kind(model):
    paths = {"/".join(name for name, _ in p) for p in snapshot_leaves(model.snap)}
    for expected in ("system/state/hostname", "interfaces/interface/state/oper-status",
                     "telegen/ports/port/rates/rx-bps", "telegen/mirror-sessions/stream/state/lost",
                     "telegen/mirror-decoder/malformed/state/count", "telegen/agent/state/mirror-flows"):
        assert expected in paths


def test_probe_sizes_talkers_and_kernel_drops_over_get(server, certs):
    paths = ["/telegen/probes/packet-sizes/bucket[port=Ethernet4][direction=rx]",
             "/telegen/probes/talkers/talker[port=Ethernet4]", "/telegen/probes/kernel-drops"]
    got = lines(pygnmi(server, certs, "get_paths", paths=paths))[0]["json_ietf"]["notification"]
    sizes, talkers, drops = ({u["path"]: u["val"] for u in n["update"]} for n in got)
    bucket = "telegen/probes/packet-sizes/bucket[direction=rx][low={}][port=Ethernet4]/state/{}"
    assert len(sizes) == 16 + 15  # packets of every bucket, high of all but the open-ended last one
    assert sizes[bucket.format(0, "high")] == 1 and sizes[bucket.format(0, "packets")] == "0"  # high: uint32
    assert sizes[bucket.format(1024, "high")] == 2047 and sizes[bucket.format(1024, "packets")] == "10"
    assert bucket.format(32768, "high") not in sizes and sizes[bucket.format(32768, "packets")] == "15"
    talker = "telegen/probes/talkers/talker[class={}][port=Ethernet4][protocol={}][source={}]/state/{}"
    assert talkers == {talker.format("bgp", 6, "10.0.1.1", "packets"): "1600",
                       talker.format("bgp", 6, "10.0.1.1", "bytes"): "102400",
                       talker.format("lldp", 0, "52:54:00:00:00:01", "packets"): "32",
                       talker.format("lldp", 0, "52:54:00:00:00:01", "bytes"): "8192"}
    assert drops["telegen/probes/kernel-drops/drop[port=Ethernet12][reason=no_socket]/state/packets"] == "10"
    assert len(drops) == 4 * 2


def test_subscriptions_are_capped_and_get_is_still_served(model):
    server = GnmiServer(GnmiConfig(listen="127.0.0.1:0", max_subscriptions=2), model.snapshot, model.subscribe).start()
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    stub = gnmi_pb2_grpc.gNMIStub(channel)
    request = gnmi_pb2.SubscribeRequest(subscribe=gnmi_pb2.SubscriptionList(
        subscription=[gnmi_pb2.Subscription(path=gnmi_pb2.Path(elem=[gnmi_pb2.PathElem(name="system")]),
                                            mode=gnmi_pb2.ON_CHANGE)], encoding=gnmi_pb2.JSON))
    try:
        open_ = [stub.Subscribe(iter([request]), timeout=10) for _ in range(2)]
        for stream in open_:
            while not next(stream).sync_response:
                pass
        with pytest.raises(grpc.RpcError) as refused:
            next(stub.Subscribe(iter([request]), timeout=10))
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "export.gnmi.max_subscriptions" in refused.value.details()
        reply = stub.Get(gnmi_pb2.GetRequest(path=[gnmi_pb2.Path(elem=[gnmi_pb2.PathElem(name="system")])],
                                             encoding=gnmi_pb2.JSON), timeout=5)
        assert json.loads(reply.notification[0].update[0].val.json_val) == "sw1"
        counters = server.agent_counters()
        assert (counters["gnmi_subscriptions"], counters["gnmi_subscriptions_refused_total"]) == (2, 1)
        for stream in open_:
            stream.cancel()
    finally:
        channel.close()
        server.stop(0)


def test_one_histogram_leaf_is_selectable(model):
    """A request naming one leaf of the size buckets gets that leaf of each bucket, not the
    whole bucket list (and not nothing)."""
    pattern = from_proto(gnmi_pb2.Path(), gnmi_pb2.Path(elem=[
        gnmi_pb2.PathElem(name=n, key=k) for n, k in (("telegen", {}), ("probes", {}), ("packet-sizes", {}),
                                                      ("bucket", {"port": "Ethernet4", "direction": "rx"}),
                                                      ("state", {}), ("packets", {}))]))
    got = leaves(model.snap, [pattern])
    assert len(got) == 16 and {p[-1][0] for p in got} == {"packets"}
    unkeyed = from_proto(gnmi_pb2.Path(), gnmi_pb2.Path(elem=[gnmi_pb2.PathElem(name="...")] + [
        gnmi_pb2.PathElem(name="high")]))
    assert {p[-1][0] for p in leaves(model.snap, [unkeyed])} == {"high"}


def test_entries_of_one_name_per_asic_get_a_namespace_key(model):
    """Multi-ASIC: a buffer pool of one name in two namespaces is two paths; the host
    namespace's path has no namespace key (single-ASIC paths unchanged)."""
    name = "buffer_pool.user_shared_watermark"
    rows = [Row(("ingress_lossless_pool",), {name: v}, ns) for v, ns in ((100, ""), (200, "asic0"), (300, "asic1"))]
    snap = dataclasses.replace(model.snap, families={**model.snap.families, "buffer_pool": rows})
    got = {path_text(p): leaf.value for p, leaf in leaves(snap, [EVERYTHING]).items()
           if p[-1][0] == "user-shared-watermark-bytes" and p[1][0] == "buffer-pools"}
    base = "/telegen/buffer-pools/pool[name=ingress_lossless_pool]{}/state/user-shared-watermark-bytes"
    assert got == {base.format(""): 100, base.format("[namespace=asic0]"): 200, base.format("[namespace=asic1]"): 300}
    one = from_proto(gnmi_pb2.Path(), gnmi_pb2.Path(elem=[
        gnmi_pb2.PathElem(name="telegen"), gnmi_pb2.PathElem(name="buffer-pools"),
        gnmi_pb2.PathElem(name="pool", key={"namespace": "asic1"})]))
    assert [leaf.value for p, leaf in leaves(snap, [one]).items() if p[-1][0] == "user-shared-watermark-bytes"] == [300]
