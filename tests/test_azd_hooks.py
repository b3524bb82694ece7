"""azd's hooks (tools/azd_hooks.py): the fallback TwiML is published to a blob service with a bearer token, as the
postprovision hook does in Azure, here against Azurite in its OAuth mode; postdeploy's restart decision.

Azure itself (ARM's restart and listKeys, the static website's public endpoint) cannot be reached here."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from tests.functions.test_holdmusic_sas import EntraLikeCredential, oauth_azurite  # noqa: F401 (the fixture)
from tools import azd_hooks

ROOT = Path(__file__).resolve().parents[1]


def test_the_fallback_twiml_is_published_into_web_with_a_bearer_token(oauth_azurite: tuple[str, str]) -> None:  # noqa: F811
    from azure.storage.blob import BlobServiceClient

    blob_uri, bundle = oauth_azurite
    token = EntraLikeCredential().get_token("https://storage.azure.com/.default").token
    context = ssl.create_default_context(cafile=bundle)
    waits: list[float] = []
    names = azd_hooks.publish_fallback(blob_uri, token, context=context, sleep=waits.append)
    assert names == ["sms-fallback.xml", "voice-fallback.xml"]
    assert waits == []
    service = BlobServiceClient(blob_uri, credential=EntraLikeCredential(), connection_verify=bundle)
    assert service.get_service_properties()["static_website"].enabled
    for name in names:
        blob = service.get_blob_client("$web", name)
        assert blob.download_blob().readall() == (ROOT / "infra" / "fallback" / name).read_bytes()
        assert blob.get_blob_properties().content_settings.content_type == "text/xml; charset=utf-8"


def test_publishing_waits_for_a_role_assignment_then_gives_up(oauth_azurite: tuple[str, str]) -> None:  # noqa: F811
    """403 (the deployer's new role not applied yet) is retried a bounded number of times; then the hook says why."""
    blob_uri, bundle = oauth_azurite
    context = ssl.create_default_context(cafile=bundle)
    waits: list[float] = []
    with pytest.raises(RuntimeError, match=r"answered 40[13]"):
        azd_hooks.publish_fallback(blob_uri, "not-a-token", context=context, tries=3, wait=0.5, sleep=waits.append)
    assert len(waits) <= 2


def test_postdeploy_restarts_only_for_an_unresolved_key_vault_reference() -> None:
    problem = "App setting TWILIO_AUTH_TOKEN holds an unresolved Key Vault reference: restart the app."
    unresolved = {"failing": ["setting TWILIO_AUTH_TOKEN"],
                  "checks": {"setting TWILIO_AUTH_TOKEN": {"ok": False, "problem": problem}}}  # fmt: skip
    other = {"failing": ["queue outbound"], "checks": {"queue outbound": {"ok": False, "problem": "does not exist"}}}
    assert azd_hooks.find_problem(unresolved) == "setting TWILIO_AUTH_TOKEN"
    assert azd_hooks.find_problem(other) is None
    assert azd_hooks.find_problem({"checks": {}}) is None


def test_postdeploy_without_azds_values_checks_nothing(capsys) -> None:
    assert azd_hooks.postdeploy({}) == 0
    assert "health not checked" in capsys.readouterr().err
