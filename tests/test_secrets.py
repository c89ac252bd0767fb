"""Secrets come from configuration: tickets signed with the configured key verify and nothing else does (not the
key that used to be written in the source code); `maas serve` refuses to start without keys outside --dev, which
keeps a 0600 key file per data folder. Card numbers stop at the API edge: stored records hold payment tokens,
never a number or an unsalted hash of one."""
from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from api_support import auth, booking_transit, client_for, services_for  # noqa: F401 (fixture)
from booking_support import Clock, itinerary, make_service, subway_leg, tokyo_setups
from maas.platform.secrets import (CARD_ENV, DEV_FILE, TICKET_ENV, Secrets, SecretsError, dev_secrets,
                                   load_secrets)
from maas.store.embedded import EmbeddedStore
from maas.store.idempotency import fingerprint
from operators.base import TicketSigner
from operators.registry import OperatorRegistry

ROOT = Path(__file__).resolve().parents[1]
OLD_SOURCE_KEY = b"maas-dev-ticket-key"  # what every deployment used to sign with
KEY_A, KEY_B = "a" * 40, "b" * 40


def test_keys_from_a_file_must_be_private_and_long(tmp_path):
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps({"ticket_signing_key": KEY_A, "card_fingerprint_key": KEY_B}))
    path.chmod(0o644)
    with pytest.raises(SecretsError, match="chmod 600"):
        load_secrets(file=path, environ={})
    path.chmod(0o600)
    s = load_secrets(file=path, environ={})
    assert (s.ticket_signing_key, s.card_fingerprint_key) == (KEY_A.encode(), KEY_B.encode())
    assert KEY_A not in repr(s)
    path.write_text(json.dumps({"ticket_signing_key": "short", "card_fingerprint_key": KEY_B}))
    with pytest.raises(SecretsError, match="at least 32"):
        load_secrets(file=path, environ={})
    with pytest.raises(SecretsError, match="cannot read"):
        load_secrets(file=tmp_path / "missing.json", environ={})


def test_keys_from_the_environment_and_nothing_without_dev(tmp_path):
    s = load_secrets(environ={TICKET_ENV: KEY_A, CARD_ENV: KEY_B})
    assert s.ticket_signing_key == KEY_A.encode() and s.source == "environment"
    with pytest.raises(SecretsError, match="card_fingerprint_key"):
        load_secrets(environ={TICKET_ENV: KEY_A})
    with pytest.raises(SecretsError, match="--dev"):
        load_secrets(environ={}, data_dir=tmp_path)


def test_dev_mode_keeps_one_private_key_file_per_data_folder(tmp_path):
    a = load_secrets(dev=True, data_dir=tmp_path / "one", environ={})
    path = tmp_path / "one" / DEV_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert dev_secrets(tmp_path / "one") == a  # reused, never regenerated
    b = load_secrets(dev=True, data_dir=tmp_path / "two", environ={})
    assert b.ticket_signing_key != a.ticket_signing_key and b.card_fingerprint_key != a.card_fingerprint_key


def test_serve_refuses_to_start_without_keys(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in (TICKET_ENV, CARD_ENV, "MAAS_SECRETS_FILE")}
    out = subprocess.run([sys.executable, "-m", "maas.cli", "serve", "--data-dir", str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, env={**env, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "no secrets configured" in out.stderr and "--dev" in out.stderr


def test_make_run_uses_dev_mode():
    run = [line for line in (ROOT / "Makefile").read_text().splitlines() if "maas serve" in line]
    assert run and all("--dev" in line for line in run)


def test_services_sign_with_the_configured_keys(tmp_path):
    """The production wiring: every operator signs with the deployment key, the vault uses the card key."""
    from api_support import tiny_transit
    from maas.services import booking_service
    from maas.platform.settings import Settings

    keys = Secrets(KEY_A.encode(), KEY_B.encode(), "test")
    transit = tiny_transit(tmp_path)
    try:
        svc = booking_service(Settings(secrets=keys), transit, store=EmbeddedStore(":memory:"))
        live = [svc.operators.get(op) for op in svc.operators.setups()]
        assert live and {a.signer.key for a in live} == {KEY_A.encode()}
        assert svc.payments._card_key == KEY_B.encode()
    finally:
        transit.close()


async def test_forged_tickets_are_rejected():
    keys = Secrets(KEY_A.encode(), KEY_B.encode(), "test")
    signer = TicketSigner(keys.ticket_signing_key)
    store = EmbeddedStore(":memory:")
    svc = make_service(store, Clock(), registry=OperatorRegistry(store, tokyo_setups(), signer=signer))
    offer = await svc.create_offer(itinerary(subway_leg()), {"adult": 1}, "o", "alice")
    booking = await svc.book(offer["id"], {"token": "tok_visa"}, "b", "alice")
    genuine = booking["legs"][0]["ticket"]["qr_payload"]
    fields = signer.verify(genuine)
    assert fields is not None and fields["tid"] == booking["legs"][0]["ticket"]["ticket_id"]
    for key in (OLD_SOURCE_KEY, KEY_B.encode(), b"guess", os.urandom(32)):
        forger = TicketSigner(key)
        assert signer.verify(forger.payload(fields)) is None  # the same ticket, signed by anyone else
        assert signer.verify(forger.payload({**fields, "pax": "9"})) is None
    assert TicketSigner().key != TicketSigner().key != OLD_SOURCE_KEY  # no fixed default key anywhere
    await store.aclose()


@pytest.mark.parametrize("card", ["4242424242424242", "4111111111111111", "5105105105105100"])
async def test_booking_records_hold_no_card_number(booking_transit, card):
    """Book through the API with a raw test card: every stored value (bookings, payments, idempotency records,
    tokens, ledger) is free of the number, its digits' unsalted SHA-256, and the number with spaces."""
    store = EmbeddedStore(":memory:")
    svc = make_service(store, Clock())
    async with client_for(services_for(booking_transit, bookings=svc)) as client:
        o = await (await client.post("/v1/offers", json={"itinerary": itinerary(subway_leg())},
                                     headers=auth("pk-alpha"))).json()
        spaced = " ".join(card[i:i + 4] for i in range(0, len(card), 4))
        for n, number in enumerate((card, spaced)):
            r = await client.post("/v1/bookings", json={"offer_id": o["id"], "payment": {"card_number": number}},
                                  headers={**auth("pk-alpha"), "Idempotency-Key": "same"})
            assert r.status == 201, await r.text()
            booking = await r.json()
        assert booking["payment"]["status"] == "captured"  # the retry with spaces replayed the first booking
    values = [await store.get(k) or "" for k in await store.keys("")]
    values += [json.dumps(e) for e in await store.ledger_entries()]
    dump = "\n".join(values)
    assert booking["id"] in dump  # the scan does see the booking record
    digest = hashlib.sha256(card.encode()).hexdigest()  # what the old booking fingerprint was built from
    for needle in (card, digest, spaced, card[:12], fingerprint("book", o["id"], digest)):
        assert needle not in dump
    auths = await svc.payments.authorizations()
    assert [a.card_last4 for a in auths] == [card[-4:]]
    await store.aclose()


async def test_the_api_accepts_tokens_and_rejects_bad_ones(booking_transit):
    store = EmbeddedStore(":memory:")
    async with client_for(services_for(booking_transit, bookings=make_service(store, Clock()))) as client:
        o = await (await client.post("/v1/offers", json={"itinerary": itinerary(subway_leg())},
                                     headers=auth("pk-alpha"))).json()
        for payment, field, status in (({"token": "visa"}, "payment.token", 422),
                                       ({"token": "tok_nope"}, "payment", 422),
                                       ({"card_number": "4242424242424241"}, "payment.card_number", 422),
                                       ({"token": "tok_chargeDeclined"}, "payment", 402)):
            r = await client.post("/v1/bookings", json={"offer_id": o["id"], "payment": payment},
                                  headers=auth("pk-alpha"))
            body = await r.json(content_type=None)
            assert (r.status, body.get("field")) == (status, field), body
        r = await client.post("/v1/bookings", json={"offer_id": o["id"], "payment": {"token": "tok_mastercard"}},
                              headers=auth("pk-alpha"))
        assert r.status == 201 and (await r.json())["state"] == "CONFIRMED"
    await store.aclose()


async def test_gates_verify_tickets_through_the_api(booking_transit):
    """POST /v1/tickets/verify with the deployment's key: the genuine ticket is valid for its operator, a copy
    signed with the old source-code key is not, another operator may not ask, a cancelled ticket is not valid."""
    from booking_support import bus_leg

    keys = Secrets(KEY_A.encode(), KEY_B.encode(), "test")
    signer = TicketSigner(keys.ticket_signing_key)
    store = EmbeddedStore(":memory:")
    svc = make_service(store, Clock(), registry=OperatorRegistry(store, tokyo_setups(), signer=signer))
    async with client_for(services_for(booking_transit, bookings=svc)) as client:
        o = await (await client.post("/v1/offers", json={"itinerary": itinerary(bus_leg())},
                                     headers=auth("pk-alpha"))).json()
        r = await client.post("/v1/bookings", json={"offer_id": o["id"], "payment": {"token": "tok_visa"}},
                              headers=auth("pk-alpha"))
        booking = await r.json()
        assert r.status == 201, booking
        genuine = booking["legs"][0]["ticket"]["qr_payload"]

        async def verify(payload, key="op-other"):  # op-other is the toei-bus operator
            resp = await client.post("/v1/tickets/verify", json={"qr_payload": payload}, headers=auth(key))
            return resp.status, await resp.json(content_type=None)

        status, body = await verify(genuine)
        assert status == 200 and body["valid"] and body["ticket"]["tid"] == booking["legs"][0]["ticket"]["ticket_id"]
        forged = TicketSigner(OLD_SOURCE_KEY).payload(body["ticket"])
        assert await verify(forged) == (200, {"valid": False, "reason": "not a ticket signed by this platform"})
        assert (await verify(genuine, "op-test"))[0] == 403
        assert (await verify(genuine, "pk-alpha"))[0] == 403
        assert (await verify(""))[1]["field"] == "qr_payload"
        r = await client.post(f"/v1/bookings/{booking['id']}/cancel", headers=auth("pk-alpha"))
        assert r.status == 200, await r.text()
        status, body = await verify(genuine, "adm-root")
        assert status == 200 and not body["valid"] and body["status"] == "cancelled"
    await store.aclose()
