"""gpuplane.vllm's translation layers that need no vLLM: request metadata, the policy file and
the version gate (the engine tests are in test_vllm_engine.py)."""

from __future__ import annotations

import gpuplane
import pytest
from gpuplane.errors import InvalidRequest
from gpuplane.vllm import policy_file, version
from gpuplane.vllm.metadata import RequestMetadata, check_metadata, core_request, parse_metadata


def test_metadata_defaults_to_the_default_tenant():
    assert parse_metadata(None) == RequestMetadata(tenant="default")
    assert parse_metadata({}) == RequestMetadata(tenant="default")


def test_metadata_reads_every_key():
    meta = parse_metadata({"tenant": "alice", "workflow": 42, "deadline_s": 2, "priority_class": "gold"})
    assert meta == RequestMetadata(tenant="alice", workflow="42", deadline_s=2.0, priority_class="gold")


def test_a_workflow_is_the_services_program_id_keyed_by_the_core():
    """``extra_args.workflow`` is the id Admit and Route take (an int as its decimal string);
    the scheduler's request carries the core's key of it, scoped by tenant."""
    meta = parse_metadata({"tenant": "alice", "workflow": "agent-7"})
    key = core_request(1, meta, 8, 1).workflow
    assert key == gpuplane.program_key("alice", "agent-7")
    assert core_request(1, parse_metadata({"tenant": "alice", "workflow": 7}), 8, 1).workflow == (
        gpuplane.program_key("alice", "7")
    )
    other = core_request(1, parse_metadata({"tenant": "bob", "workflow": "agent-7"}), 8, 1)
    assert other.workflow != key


@pytest.mark.parametrize(
    ("extra_args", "field"),
    [
        ({"tenant": 5}, "tenant"),
        ({"tenant": ""}, "tenant"),
        ({"workflow": [1]}, "workflow"),
        ({"workflow": True}, "workflow"),
        ({"deadline_s": "soon"}, "deadline_s"),
        ({"priority_class": 3}, "priority_class"),
    ],
)
def test_malformed_metadata_names_the_key(extra_args, field):
    with pytest.raises(InvalidRequest, match=f"extra_args.{field}") as err:
        parse_metadata(extra_args)
    assert err.value.field == field


TOML = """
[batching]
policy = "fair"
[tenants.alice]
weight = 4.0
tokens_per_s = 2000
[tenants.bob]
[classes.gold]
value = 10
"""

YAML = """
batching: {policy: fair}
tenants:
  alice: {weight: 4.0, tokens_per_s: 2000}
  bob: {}
classes:
  gold: {value: 10}
"""


@pytest.mark.parametrize(("name", "text"), [("p.toml", TOML), ("p.yaml", YAML)])
def test_policy_file_builds_the_core_policy(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    parsed = policy_file.load_policy(path)
    assert parsed.batching == {"policy": "fair"}
    engine = parsed.engine()
    tenants = {t.name: t for t in engine.tenants()}
    assert tenants["alice"].quota.over_quota_weight == 4.0
    assert tenants["alice"].quota.limit == {"tokens_per_s": 2000.0}
    assert tenants["bob"].quota.over_quota_weight == 1.0
    assert [(c.name, c.value) for c in engine.classes() if c.name == "gold"] == [("gold", 10)]


def test_policy_file_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(policy_file.ENV_VAR, raising=False)
    assert policy_file.policy_from_env().engine() is None
    path = tmp_path / "p.toml"
    path.write_text(TOML)
    monkeypatch.setenv(policy_file.ENV_VAR, str(path))
    assert "alice" in policy_file.policy_from_env().engine()


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[tenants.alice]\nwieght = 2\n", "policy.tenants.alice.wieght"),
        ("[batching]\npolcy = 'fair'\n", "policy.batching.polcy"),
        ("[tenant.alice]\n", "policy.tenant"),
        ("tenants = 3\n", "policy.tenants"),
        ("[tenants\n", "policy file"),
    ],
)
def test_policy_file_errors_name_the_key(tmp_path, text, where):
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(InvalidRequest, match=where.replace(".", r"\.")):
        policy_file.load_policy(path)


def test_policy_values_are_checked_by_the_core(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text("[tenants.alice]\nweight = -1\n")
    with pytest.raises(InvalidRequest):
        policy_file.load_policy(path).engine()


def test_scheduler_import_names_the_tested_vllm_range(monkeypatch):
    monkeypatch.setattr(version, "installed_vllm", lambda: "0.31.2")
    with pytest.raises(ImportError, match=r">=0\.32,<0\.33; found vLLM 0\.31\.2"):
        from gpuplane.vllm import Scheduler
    monkeypatch.setattr(version, "installed_vllm", lambda: None)
    with pytest.raises(ImportError, match=r"pip install 'gpuplane\[vllm\]'"):
        from gpuplane.vllm import Scheduler  # noqa: F401


def test_tested_range_accepts_local_builds():
    assert version._release("0.32.0+cpu") == (0, 32)


@pytest.mark.parametrize(
    ("extra_args", "field", "text"),
    [
        ({"tenant": "ali\u202ece"}, "tenant", "extra_args.tenant: invalid tenant: has an invisible"),
        (
            {"deadline_s": float("nan")},
            "deadline_s",
            "extra_args.deadline_s: invalid ttft_deadline: must be finite",
        ),
        ({"tenant": 5}, "tenant", "extra_args.tenant: must be a non-empty string"),
        ({"workflow": ""}, "workflow", "extra_args.workflow: invalid workflow: must not be empty"),
        ({"workflow": "a\x1bb"}, "workflow", "extra_args.workflow: invalid workflow: has a control"),
        ({"workflow": "w" * 254}, "workflow", "extra_args.workflow: invalid workflow: is 254 bytes"),
    ],
)
def test_metadata_checked_before_the_engine_names_the_key(extra_args, field, text):
    """What the front end refuses (gpuplane.vllm.check): the adapter's type checks, then the core's."""
    with pytest.raises(InvalidRequest) as err:
        check_metadata(extra_args, 16)
    assert text in str(err.value)
    assert err.value.field == field


def test_well_formed_metadata_passes_the_check():
    assert check_metadata({"tenant": "alice", "workflow": "a-1", "deadline_s": 2}, None).tenant == "alice"


@pytest.mark.parametrize(
    ("extra_args", "text"),
    [
        ({"tenant": "mallory"}, 'extra_args.tenant: invalid tenant: unknown tenant "mallory"'),
        (None, 'unknown tenant "default"'),
        ({"tenant": "org"}, '"org" has children; only leaves hold work'),
    ],
)
def test_a_tenant_the_policy_cannot_serve_is_refused_before_the_engine(extra_args, text):
    """The core's tenant lookup (``Policy.check_leaf``), the one ``BatchScheduler.add`` makes."""
    policy = gpuplane.Policy()
    policy.add_tenant("org")
    policy.add_tenant("alice", "org")
    assert check_metadata({"tenant": "alice"}, 16, policy).tenant == "alice"
    with pytest.raises(InvalidRequest) as err:
        check_metadata(extra_args, 16, policy)
    assert text in str(err.value)
    assert err.value.field == "tenant"
