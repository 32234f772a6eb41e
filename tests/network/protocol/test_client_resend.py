"""After a dropped connection the client protocol repeats only what is safe to repeat."""

from __future__ import annotations

from hubbub.network import EV_TEXT, Envelope
from hubbub.network.protocol.client import ClientProtocol
from hubbub.network.protocol.frames import RequestFrame, SendFrame


def test_keyed_sends_and_read_only_requests_survive_a_drop_and_are_resent() -> None:
    p = ClientProtocol(key_prefix="k", keys=True)
    probe = p.request("turn_probe", {"session_id": "s", "caller_id": "a"})
    create = p.request(
        "create_session",
        {"creator_id": "a", "manifest_type": "conversation", "participants": ["b"]},
    )
    send = p.send(Envelope("s", "a", None, EV_TEXT, {"text": "hi"}))
    p.data_to_send()
    failed = p.connection_lost(keep_sends=True)
    assert [f.request_id for f in failed] == [create]  # not safe to repeat: it fails
    assert p.resend() == 2
    again = p.data_to_send()
    assert [(type(f), getattr(f, "request_id", None)) for f in again] == [
        (RequestFrame, probe),
        (SendFrame, send),
    ]
    assert again[1].envelope.idempotency_key == f"k-{send}"  # same key: written once


def test_without_keep_sends_everything_fails() -> None:
    p = ClientProtocol()
    rid = p.request("get_agent", {"name_or_id": "bob"})
    sid = p.send(Envelope("s", "a", None, EV_TEXT, {"text": "hi"}))  # no key: not repeatable
    assert {f.request_id for f in p.connection_lost()} == {rid, sid}
    assert p.resend() == 0
