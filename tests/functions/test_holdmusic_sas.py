"""Hold music from a private container when the app has no account key: user-delegation SAS links.

Azure (shared keys off) is modelled by Azurite in its OAuth mode (`--oauth basic`, which needs HTTPS):
it hands out user delegation keys to a Bearer token and checks the SAS signed with one, so a link that
works here was signed correctly. Only the Entra token has no local stand-in: the app's credential is
replaced by one that mints a token of the shape Azurite checks (issuer, audience, lifetime, oid, tid).
"""

from __future__ import annotations

import contextlib
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.support import PUBLIC_BASE_URL, function, http_request, signed_form, xml_of
from tools.localmachine import DEV_ACCOUNT, azurite_binary, free_port, stop_process, wait_for_ports

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
APP_OBJECT_ID = "11059fcc-5514-4800-b5f8-49808b9cfab6"
AUDIO = {"lobby/one.mp3": b"ID3-one", "two.wav": b"RIFF-two", "liner-notes.txt": b"not audio"}
CALL = {"CallSid": "CA" + "d" * 32, "From": "+15550001111", "To": "+15005550006", "CallStatus": "in-progress"}


class EntraLikeCredential:
    """A TokenCredential whose tokens look like Microsoft Entra ID's to Azurite (which checks no signature)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        import jwt
        from azure.core.credentials import AccessToken

        now = int(time.time())
        claims = {"aud": "https://storage.azure.com", "iss": f"https://sts.windows.net/{TENANT}/", "iat": now - 60,
                  "nbf": now - 60, "exp": now + 3600, "oid": APP_OBJECT_ID, "tid": TENANT}  # fmt: skip
        return AccessToken(jwt.encode(claims, "not-checked-by-azurite-" * 2, algorithm="HS256"), now + 3600)


@pytest.fixture(scope="module")
def oauth_azurite(tmp_path_factory: pytest.TempPathFactory, own_azurite: object) -> Iterator[tuple[str, str]]:
    """Azurite's blob service with OAuth on HTTPS, on a free port. Yields (blob service URI, CA bundle path)."""
    import trustme

    folder = tmp_path_factory.mktemp("azurite-oauth")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    cert, key, bundle = folder / "cert.pem", folder / "key.pem", folder / "ca.pem"
    server.cert_chain_pems[0].write_to_path(str(cert))
    server.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(bundle))
    port = free_port()
    command = [*azurite_binary("azurite-blob"), "--skipApiVersionCheck", "--disableTelemetry", "--inMemoryPersistence",
               "--blobHost", "127.0.0.1", "--blobPort", str(port), "--oauth", "basic",
               "--cert", str(cert), "--key", str(key)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_for_ports([port], process, 60, "Azurite (OAuth)")
        yield f"https://127.0.0.1:{port}/{DEV_ACCOUNT}", str(bundle)
    finally:
        stop_process(process)


@pytest.fixture
def identity_storage(oauth_azurite: tuple[str, str], configure, monkeypatch: pytest.MonkeyPatch) -> str:
    """The app's storage settings as infra/ writes them (identity, no key), pointed at Azurite's OAuth mode."""
    from switchboard.adapters import storage
    from switchboard.functions import glue_twimlets

    blob_uri, bundle = oauth_azurite
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", bundle)  # azure-core's requests transport trusts the test CA
    monkeypatch.setattr(storage, "_credential", lambda kind, client_id: EntraLikeCredential())
    monkeypatch.setattr(glue_twimlets, "_delegation_keys", {})
    configure(
        AzureWebJobsStorage=None,
        AzureWebJobsStorage__blobServiceUri=blob_uri,
        AzureWebJobsStorage__credential="managedidentity",
        AzureWebJobsStorage__clientId="app-client-id",
    )
    container = storage.blob_service_client().get_container_client("holdmusic")
    with contextlib.suppress(Exception):
        container.create_container()  # private: no public access level
    for name, data in AUDIO.items():
        container.upload_blob(name, data, overwrite=True)
    return bundle


def plays_of(xml: str) -> list[str]:
    root = ET.fromstring(xml.split("?>", 1)[1])  # noqa: S314 - our own app's output
    return [play.text or "" for play in root.iter("Play")]


def test_holdmusic_links_carry_a_user_delegation_sas(app, identity_storage: str) -> None:
    from switchboard.adapters.storage import blob_service_client

    assert getattr(blob_service_client().credential, "account_key", None) is None  # no key to sign with
    url = f"{PUBLIC_BASE_URL}/api/twiml/holdmusic?Container=holdmusic"
    before = datetime.now(timezone.utc)
    headers, body = signed_form(url, CALL)
    request = http_request("POST", url, headers=headers, body=body, route_params={"name": "holdmusic"})
    plays = plays_of(xml_of(function(app, "twiml_twimlet")(request)))
    assert sorted(urlsplit(play).path.rsplit("/holdmusic/", 1)[1] for play in plays) == ["lobby/one.mp3", "two.wav"]

    # Twilio can fetch each file with its link, and with nothing else.
    bundle = identity_storage
    fetched = {requests.get(play, timeout=10, verify=bundle).content for play in plays}
    assert fetched == {b"ID3-one", b"RIFF-two"}
    assert requests.get(plays[0].split("?")[0], timeout=10, verify=bundle).status_code in (401, 403, 404)

    sas = {key: values[0] for key, values in parse_qs(urlsplit(plays[0]).query).items()}
    assert (sas["skoid"], sas["sktid"]) == (APP_OBJECT_ID, TENANT)  # signed by the app's identity
    assert sas["sp"] == "r"  # read only
    assert sas["sr"] == "b"  # this one blob
    assert sas["spr"] == "https"
    assert sas["sks"] == "b"
    assert {"skt", "ske", "skv", "sv", "sig"} <= set(sas)
    assert "AccountKey" not in plays[0]
    expiry = datetime.fromisoformat(sas["se"].replace("Z", "+00:00"))
    assert timedelta(hours=1) < expiry - before <= timedelta(hours=2, minutes=1)  # short-lived
    assert datetime.fromisoformat(sas["ske"].replace("Z", "+00:00")) >= expiry  # the key outlives the link


def test_a_user_delegation_sas_grants_nothing_else(identity_storage: str) -> None:
    from switchboard.functions.glue_twimlets import list_audio_blobs

    bundle = identity_storage
    link = list_audio_blobs("holdmusic")[0]
    base, query = link.split("?", 1)
    container_url = base.rsplit("/holdmusic/", 1)[0] + "/holdmusic"
    assert requests.get(link, timeout=10, verify=bundle).status_code == 200
    # No writing, no other blob, no listing, and no widening the permissions after signing.
    put = requests.put(link, data=b"x", headers={"x-ms-blob-type": "BlockBlob"}, timeout=10, verify=bundle)
    assert put.status_code == 403
    other = f"{container_url}/liner-notes.txt?{query}"
    assert requests.get(other, timeout=10, verify=bundle).status_code == 403
    listing = f"{container_url}?restype=container&comp=list&{query}"
    assert requests.get(listing, timeout=10, verify=bundle).status_code == 403
    widened = link.replace("sp=r&", "sp=rw&")
    assert widened != link
    assert requests.get(widened, timeout=10, verify=bundle).status_code == 403


def test_the_delegation_key_is_reused_not_fetched_per_call(identity_storage: str, monkeypatch) -> None:
    from azure.storage.blob import BlobServiceClient

    from switchboard.functions.glue_twimlets import list_audio_blobs

    calls = []
    original = BlobServiceClient.get_user_delegation_key

    def counting(self: BlobServiceClient, *args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(BlobServiceClient, "get_user_delegation_key", counting)
    for _ in range(3):
        assert len(list_audio_blobs("holdmusic")) == 2
    assert len(calls) == 1
