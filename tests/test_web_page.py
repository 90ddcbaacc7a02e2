"""The live web page of ``gpuplane serve --http-port``: its JSON view over real service calls,
the same view as ``gpuplane status``, and the page itself in a real headless Chromium while
workloads are placed."""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request

import pytest
from chromium import Chromium
from daemon_harness import in_process, make_config
from gpuplane import Client, Workload
from gpuplane._proto.v1 import placement_pb2 as pp
from gpuplane.client_values import Quota
from gpuplane.commands.status_table import read, render
from gpuplane.errors import CapacityError

# Set to a path to keep the screenshot (the README's is made this way).
SCREENSHOT = os.environ.get("GPUPLANE_WEB_SCREENSHOT")


@pytest.fixture
def served(tmp_path):
    with in_process(make_config(tmp_path, http_port=0, min_runtime_s=0.0)) as s:
        yield s


def page_url(server, path: str = "/") -> str:
    return f"http://127.0.0.1:{server.daemon.web.port}{path}"


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def populate(client: Client) -> None:
    """Two tenants with quotas, three placements, one refusal, a replica with load, a drain."""
    client.put_tenant("chat", quota=Quota(guaranteed={"gpus": 2}, deserved={"gpus": 4}, limit={"gpus": 8}))
    client.put_tenant("search", quota=Quota(deserved={"gpus": 4}))
    client.place(Workload("llama-8b", memory_mib=20_000, tenant="chat"))
    client.place(Workload("llama-70b", memory_mib=70_000, gpu_count=4, tenant="search"))
    client.place(Workload("embed", memory_mib=8_000, compute_milli=250, tenant="chat"))
    with pytest.raises(CapacityError):
        client.place(Workload("too-big", memory_mib=200_000, tenant="chat"))
    client.register_replica("vllm-0", address="10.0.0.5:8000", model="llama-8b")
    client.report_load("vllm-0", waiting=3, running=7, kv_usage=0.42)
    client.placement.Drain(pp.DrainRequest(gpu_id="sim-1/7", reason="Xid 79 in test"))


def shares(view: dict) -> dict[str, tuple[str, str, int]]:
    """workload -> (gpu, tenant, memory) over the packing map."""
    return {
        s["workload"]: (g["gpu"]["id"], s["tenant"], s["memory_mib"])
        for n in view["cluster"]["nodes"]
        for g in n["gpus"]
        for s in g["shares"]
    }


def test_api_view_has_the_map_tenants_replicas_and_decisions(served):
    with Client(served.target) as c:
        populate(c)
        placed = {p.workload_id: p for p in c.cluster().placements}
    view = get_json(page_url(served, "/api/view"))
    assert shares(view)["llama-8b"] == (placed["llama-8b"].gpu_ids[0], "chat", 20_000)
    assert shares(view)["llama-70b"][1:] == ("search", 70_000)
    gpus = {c["gpu"]["id"]: c["gpu"] for n in view["cluster"]["nodes"] for c in n["gpus"]}
    assert len(gpus) == 16 and not gpus["sim-1/7"]["healthy"]
    assert gpus[placed["embed"].gpu_ids[0]]["compute_used_milli"] == 250
    chat = next(t for t in view["tenants"] if t["name"] == "chat")
    gpus_row = next(r for r in chat["resources"] if r["resource"] == "gpus")
    assert (gpus_row["guaranteed"], gpus_row["deserved"], gpus_row["limit"]) == (2, 4, 8)
    assert chat["placed_workloads"] == 2
    replica = {
        "id": "vllm-0",
        "model": "llama-8b",
        "tenant": "",
        "waiting": 3,
        "running": 7,
        "kv_usage": 0.42,
    }
    assert view["replicas"] == [{**replica, "routed": 0, "routing_share": 0.0}]
    kinds = [(d["kind"], d["subject"]) for d in view["decisions"]]
    assert kinds[0] == ("drained", "")
    assert ("refused", "too-big") in kinds and ("placed", "llama-70b") in kinds
    refusal = next(d for d in view["decisions"] if d["kind"] == "refused")
    assert "no node fits" in refusal["reason"] and refusal["tenant"] == "chat"
    drain = view["decisions"][0]
    assert drain["gpus"] == ["sim-1/7"] and drain["reason"] == "Xid 79 in test"


def test_the_page_and_the_status_table_read_the_same_view(served):
    with Client(served.target) as c:
        populate(c)
        table_view = json.loads(json.dumps(read(c, "x").to_dict()))
        text = render(c, "x")
    page = get_json(page_url(served, "/api/view"))
    assert page["cluster"]["summary"] == table_view["cluster"]["summary"]
    without_shares = [
        [{**g, "shares": []} for g in n["gpus"]] for n in page["cluster"]["nodes"]
    ]  # the table does not ask for placements
    assert without_shares == [n["gpus"] for n in table_view["cluster"]["nodes"]]
    assert page["tenants"] == table_view["tenants"]
    assert page["replicas"] == table_view["replicas"]
    assert "sim-1/7  sim-1  H100-80GB  DRAINED" in text
    assert "chat" in text and "vllm-0" in text


def test_an_unchanged_view_costs_a_304(served):
    url = page_url(served, "/api/view")
    with urllib.request.urlopen(url, timeout=10) as r:
        etag = r.headers["ETag"]
        assert r.headers["Server-Timing"].startswith("view;dur=")
    request = urllib.request.Request(url, headers={"If-None-Match": etag})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request, timeout=10)
    assert e.value.code == 304


def test_the_page_is_read_only_and_unknown_paths_are_404(served):
    post = urllib.request.Request(page_url(served, "/api/view"), data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(post, timeout=10)
    assert e.value.code == 405
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(page_url(served, "/etc/passwd"), timeout=10)
    assert e.value.code == 404


def test_assets_ship_in_the_package_and_need_no_network(served):
    with urllib.request.urlopen(page_url(served), timeout=10) as r:
        html = r.read().decode()
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert "/static/app.js" in html and "http" not in html.replace('"http-equiv', "")
    with urllib.request.urlopen(page_url(served, "/static/app.js"), timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/javascript")
        assert "innerHTML" not in r.read().decode()  # service values go in as text only


def test_chromium_shows_workloads_as_they_are_placed(served, tmp_path):
    with Client(served.target) as c, Chromium(tmp_path / "profile") as browser:
        populate(c)
        browser.open(page_url(served))
        browser.wait_for("!!document.querySelector('[data-workload=\"llama-70b\"]')")
        assert browser.evaluate("document.querySelectorAll('g.gpu').length") == 16
        assert browser.evaluate("document.querySelectorAll('g.gpu.drained').length") == 1
        tenant = "document.querySelector('[data-workload=\"llama-8b\"]').getAttribute('data-tenant')"
        assert browser.evaluate(tenant) == "chat"
        text = browser.evaluate("document.body.innerText")
        assert "vllm-0" in text and "too-big" in text and "no node fits" in text and "search" in text
        c.place(Workload("mistral-7b", memory_mib=16_000, tenant="search"))
        browser.wait_for("!!document.querySelector('[data-workload=\"mistral-7b\"]')")
        newest = "document.querySelector('#decisions tr:nth-child(2)').innerText"
        assert "placed\tmistral-7b\tsearch" in browser.evaluate(newest)
        browser.screenshot(tmp_path / "page.png")
        c.release("llama-70b")
        browser.wait_for("!document.querySelector('[data-workload=\"llama-70b\"]')")
    assert (tmp_path / "page.png").stat().st_size > 10_000
    if SCREENSHOT:
        shutil.copy(tmp_path / "page.png", SCREENSHOT)


def test_decisions_carry_preemptions_admissions_and_routing_share(served):
    with Client(served.target) as c:
        c.put_tenant("batch")
        c.put_class("urgent", 10)
        c.place_columns([f"batch-{i}" for i in range(16)], [70_000] * 16, [1] * 16, tenant="batch")
        urgent = Workload("urgent", memory_mib=70_000, tenant="batch", priority_class="urgent")
        plan = c.preemption_plan(urgent)
        assert plan is not None
        c.preempt(plan)
        c.put_tenant("chat", quota=Quota(deserved={"gpus": 4}))
        c.release(next(w for w in (f"batch-{i}" for i in range(16)) if w not in plan.victims))
        c.admit("req-1", "chat", resources={"gpus": 1})  # the GPU just freed
        c.admit("req-2", "chat", resources={"concurrent": 1})
        c.register_replica("a", model="m")
        c.register_replica("b", model="m")
        c.report_load("b", waiting=9)
        for _ in range(3):
            c.route("chat", model="m")
        text = render(c, "x")
    view = get_json(page_url(served, "/api/view"))
    kinds = {(d["kind"], d["subject"]): d for d in view["decisions"]}
    assert kinds[("placed", "16 of 16 workloads")]["tenant"] == "batch"
    assert kinds[("preempted", plan.victims[0])]["reason"] == "for urgent"
    assert ("placed", "urgent") in kinds and ("admit", "req-1") in kinds
    assert kinds[("reject", "req-2")]["reason"] == "concurrent request exceeds the cluster capacity"
    shares = {r["id"]: (r["routed"], r["routing_share"]) for r in view["replicas"]}
    assert shares == {"a": (3, 1.0), "b": (0, 0.0)}
    assert "ROUTED" in text and "100%" in text
