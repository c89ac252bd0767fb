"""API keys and roles (maas.platform.auth): parsing the keys document, authenticating headers, role and owner checks."""
from __future__ import annotations

import pytest

from maas.platform.auth import AuthError, KeyConfigError, KeyRing, Role

KEYS = {
    "pk-alpha-0001": {"role": "partner", "name": "alpha"},
    "pk-beta-0002": {"role": "partner", "name": "beta", "rate": 5, "burst": 10},
    "op-bus-0003": {"role": "operator", "operator": "toei-bus"},
    "dis-0004": {"role": "disaster", "name": "jma"},
    "adm-0005": {"role": "admin", "name": "root"},
}


def ring() -> KeyRing:
    return KeyRing.from_mapping(KEYS)


def test_bearer_resolves_role_name_and_operator():
    r = ring()
    p = r.authenticate("Bearer pk-alpha-0001")
    assert p.role is Role.PARTNER and p.name == "alpha" and p.owner == "partner:alpha"
    op = r.authenticate("bearer   op-bus-0003")
    assert op.role is Role.OPERATOR and op.operator == "toei-bus" and op.name == "toei-bus"
    assert r.authenticate("Bearer pk-beta-0002").rate.burst == 10
    assert len(p.key_id) == 16 and "pk-alpha" not in p.key_id


@pytest.mark.parametrize("header, reason", [
    (None, "missing"), ("", "missing"), ("Basic abc", "Bearer"), ("Bearer ", "Bearer"),
    ("Bearer nope", "unknown"), ("pk-alpha-0001", "Bearer"),
])
def test_bad_headers_are_refused_with_a_reason(header, reason):
    with pytest.raises(AuthError, match=reason):
        ring().authenticate(header)


def test_roles_and_ownership():
    r = ring()
    alpha, beta = r.authenticate("Bearer pk-alpha-0001"), r.authenticate("Bearer pk-beta-0002")
    op, admin = r.authenticate("Bearer op-bus-0003"), r.authenticate("Bearer adm-0005")
    search = frozenset({Role.PARTNER, Role.OPERATOR})
    assert alpha.has_role(search) and op.has_role(search) and admin.has_role(search)
    assert not r.authenticate("Bearer dis-0004").has_role(search)
    assert alpha.may_see("partner:alpha") and not alpha.may_see(beta.owner) and not alpha.may_see(None)
    assert admin.may_see(beta.owner)
    assert op.may_act_for_operator("toei-bus") and not op.may_act_for_operator("toei-subway")
    assert not alpha.may_act_for_operator("toei-bus") and admin.may_act_for_operator("toei-subway")


@pytest.mark.parametrize("doc, message", [
    ('{"k": {"role": "king"}}', "role must be one of"),
    ('{"k": {"role": "operator"}}', "operator key needs"),
    ('{"k": "partner"}', "expected an object"),
    ('{"": {"role": "partner"}}', "non-empty"),
    ('{"a b": {"role": "partner"}}', "whitespace"),
    ('{"k": {"role": "partner", "rate": -1}}', "rate must be"),
    ('{"k": {"role": "partner", "burst": 0}}', "burst must be"),
    ('[1, 2]', "JSON object"),
    ('{not json', "not valid JSON"),
])
def test_bad_keys_documents_fail_at_start(doc, message):
    with pytest.raises(KeyConfigError, match=message):
        KeyRing.from_json(doc)


def test_load_from_file_then_environment(tmp_path):
    f = tmp_path / "keys.json"
    f.write_text('{"file-key": {"role": "admin", "name": "f"}}')
    env = {"MAAS_API_KEYS": '{"env-key": {"role": "partner", "name": "e"}}'}
    assert KeyRing.load(f, env).authenticate("Bearer file-key").name == "f"
    assert KeyRing.load(None, env).authenticate("Bearer env-key").name == "e"
    assert len(KeyRing.load(None, {})) == 0
    with pytest.raises(KeyConfigError, match="cannot read"):
        KeyRing.load(tmp_path / "missing.json", env)
