"""switchboard.adapters.storage: connection strings against Azurite, and identity-based clients (built, not called)."""

from __future__ import annotations

import uuid

import pytest

from switchboard.adapters import storage
from switchboard.adapters.storage import StorageConfigError, StorageTarget, queue_client, table_client

IDENTITY_ENV = {
    "AzureWebJobsStorage__accountName": "stswitchboard",
    "AzureWebJobsStorage__credential": "managedidentity",
    "AzureWebJobsStorage__clientId": "00000000-1111-2222-3333-444444444444",
}


@pytest.fixture
def identity_mode(monkeypatch: pytest.MonkeyPatch):
    """The app settings infra/ sets in Azure: no connection string, only the account and the identity."""
    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    for key, value in IDENTITY_ENV.items():
        monkeypatch.setenv(key, value)
    storage._credential.cache_clear()
    yield
    storage._credential.cache_clear()


def test_connection_string_mode_round_trips_queues_and_tables(azurite: str) -> None:
    name = "t" + uuid.uuid4().hex[:12]
    assert StorageTarget.resolve().connection_string == azurite

    queue = queue_client(name)
    queue.create_queue()
    queue.send_message('{"type": "sms"}')
    raw = queue_client(name, base64=False).peek_messages()[0].content
    assert raw == "eyJ0eXBlIjogInNtcyJ9"  # base64, as the Functions host expects
    received = queue.receive_message()
    assert received is not None
    assert received.content == b'{"type": "sms"}'

    table = table_client(name)
    table.create_table()
    table.create_entity({"PartitionKey": "p", "RowKey": "r", "status": "queued"})
    assert table.get_entity("p", "r")["status"] == "queued"
    table.delete_table()
    queue.delete_queue()


def test_identity_settings_resolve_to_service_uris() -> None:
    target = StorageTarget.resolve(env=IDENTITY_ENV)
    assert target.uses_identity
    assert target.queue_uri == "https://stswitchboard.queue.core.windows.net"
    assert target.table_uri == "https://stswitchboard.table.core.windows.net"
    assert target.blob_uri == "https://stswitchboard.blob.core.windows.net"
    assert target.client_id == IDENTITY_ENV["AzureWebJobsStorage__clientId"]
    assert target.credential_kind == "managedidentity"


def test_explicit_service_uris_win_over_the_account_name() -> None:
    target = StorageTarget.resolve(
        env={
            "AzureWebJobsStorage__queueServiceUri": "https://q.example.net/",
            "AzureWebJobsStorage__tableServiceUri": "https://t.example.net",
        }
    )
    assert (target.queue_uri, target.table_uri) == ("https://q.example.net", "https://t.example.net")
    assert target.blob_uri is None
    with pytest.raises(StorageConfigError, match="No blob service URI"):
        target._service_uri("blob")


def test_a_missing_connection_names_both_ways_to_set_it() -> None:
    with pytest.raises(StorageConfigError, match=r"AzureWebJobsStorage.*AzureWebJobsStorage__accountName"):
        StorageTarget.resolve(env={})


def test_a_connection_string_wins_over_identity_settings() -> None:
    target = StorageTarget.resolve(env={"AzureWebJobsStorage": "UseDevelopmentStorage=true", **IDENTITY_ENV})
    assert not target.uses_identity


@pytest.mark.usefixtures("identity_mode")
def test_identity_mode_builds_clients_with_the_managed_identity() -> None:
    from azure.identity import ManagedIdentityCredential

    queue = queue_client("outbound")
    table = table_client("records")
    assert queue.url == "https://stswitchboard.queue.core.windows.net/outbound"
    assert queue.account_name == "stswitchboard"
    assert table.url.startswith("https://stswitchboard.table.core.windows.net")
    assert table.table_name == "records"
    for client in (queue, table):
        assert isinstance(client.credential, ManagedIdentityCredential)
    # One credential per process, so tokens are cached across clients.
    assert queue.credential is table.credential
    # Messages are still base64, as the host's queue trigger expects.
    assert type(queue._message_encode_policy).__name__ == "TextBase64EncodePolicy"


def test_without_the_credential_setting_default_azure_credential_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    from azure.identity import DefaultAzureCredential

    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    monkeypatch.setenv("AzureWebJobsStorage__accountName", "stlocal")
    storage._credential.cache_clear()
    try:
        client = queue_client("outbound")
        assert isinstance(client.credential, DefaultAzureCredential)
        assert client.url == "https://stlocal.queue.core.windows.net/outbound"
    finally:
        storage._credential.cache_clear()


def test_an_unknown_credential_kind_is_refused() -> None:
    target = StorageTarget.resolve(env={**IDENTITY_ENV, "AzureWebJobsStorage__credential": "clientsecret"})
    with pytest.raises(StorageConfigError, match="managedidentity"):
        target.credential()
