"""The one place that builds Azure Storage clients (tables, queues and blobs).

The connection is named like a Functions binding's `connection` ("AzureWebJobsStorage"):
- `<name>` holds a connection string (Azurite locally: UseDevelopmentStorage=true), or
- `<name>__accountName`, or `<name>__queueServiceUri` / `<name>__tableServiceUri` /
  `<name>__blobServiceUri`, select identity-based access, as the Functions host's bindings do:
  `<name>__credential=managedidentity` with `<name>__clientId` uses that managed identity
  (ManagedIdentityCredential); otherwise DefaultAzureCredential (e.g. `az login` on a laptop),
  preferring `<name>__clientId` when it runs in Azure.
SDK modules (azure.identity included) are imported here, at first use, to keep cold starts cheap.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.data.tables import TableClient
    from azure.storage.blob import BlobServiceClient
    from azure.storage.queue import QueueClient

DEFAULT_CONNECTION = "AzureWebJobsStorage"


class StorageConfigError(RuntimeError):
    pass


@dataclass(frozen=True)
class StorageTarget:
    """Where a storage connection points: a connection string, or service URIs with identity."""

    connection_string: str | None = None
    queue_uri: str | None = None
    table_uri: str | None = None
    blob_uri: str | None = None
    client_id: str | None = None
    credential_kind: str | None = None

    @property
    def uses_identity(self) -> bool:
        return self.connection_string is None

    @classmethod
    def resolve(cls, name: str = DEFAULT_CONNECTION, env: Mapping[str, str] | None = None) -> StorageTarget:
        env = os.environ if env is None else env
        connection_string = env.get(name, "").strip()
        if connection_string:
            return cls(connection_string=connection_string)
        account = env.get(f"{name}__accountName", "").strip()
        suffix = env.get(f"{name}__endpointSuffix", "core.windows.net").strip()

        def uri(service: str) -> str | None:
            explicit = env.get(f"{name}__{service}ServiceUri", "").strip()
            if explicit:
                return explicit.rstrip("/")
            return f"https://{account}.{service}.{suffix}" if account else None

        target = cls(
            queue_uri=uri("queue"),
            table_uri=uri("table"),
            blob_uri=uri("blob"),
            client_id=env.get(f"{name}__clientId", "").strip() or None,
            credential_kind=env.get(f"{name}__credential", "").strip().lower() or None,
        )
        if not (target.queue_uri or target.table_uri or target.blob_uri):
            raise StorageConfigError(
                f"Missing storage connection {name}: set {name} to a connection string "
                f"(UseDevelopmentStorage=true for Azurite) or {name}__accountName for managed identity."
            )
        return target

    def credential(self) -> Any:
        """One credential per identity and process: it caches its tokens."""
        if self.credential_kind not in (None, "managedidentity"):
            raise StorageConfigError(f"Unsupported storage credential {self.credential_kind!r}: use managedidentity")
        return _credential(self.credential_kind, self.client_id)

    def _service_uri(self, service: str) -> str:
        value = {"queue": self.queue_uri, "table": self.table_uri, "blob": self.blob_uri}[service]
        if not value:
            raise StorageConfigError(f"No {service} service URI for identity-based storage")
        return value


@lru_cache(maxsize=4)
def _credential(kind: str | None, client_id: str | None) -> Any:
    if kind == "managedidentity":
        from azure.identity import ManagedIdentityCredential

        return ManagedIdentityCredential(client_id=client_id) if client_id else ManagedIdentityCredential()
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(managed_identity_client_id=client_id)


def queue_client(
    queue_name: str, *, connection: str = DEFAULT_CONNECTION, base64: bool = True, **sdk_options: Any
) -> QueueClient:
    """A queue client. `base64=True` matches the Functions host's default messageEncoding.

    `sdk_options` go to the SDK client (e.g. `connection_timeout`, `retry_policy` for a bounded CLI)."""
    from azure.storage.queue import BinaryBase64DecodePolicy, QueueClient, TextBase64EncodePolicy

    policies: dict[str, Any] = (
        {"message_encode_policy": TextBase64EncodePolicy(), "message_decode_policy": BinaryBase64DecodePolicy()}
        if base64
        else {}
    )
    target = StorageTarget.resolve(connection)
    options = policies | sdk_options
    if target.connection_string:
        return QueueClient.from_connection_string(target.connection_string, queue_name, **options)
    return QueueClient(target._service_uri("queue"), queue_name, credential=target.credential(), **options)


def unavailable(error: BaseException) -> bool:
    """Is this storage error "unreachable or failing for now" (worth another try), not an answer such as 412/409?"""
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    if isinstance(error, (ServiceRequestError, ServiceResponseError)):
        return True
    return isinstance(error, HttpResponseError) and (error.status_code or 0) >= 500


def error_code(error: BaseException) -> str:
    """A storage error's service code (`EntityAlreadyExists`, `UpdateConditionNotSatisfied`, ...), or ''."""
    code = getattr(error, "error_code", None)
    return str(getattr(code, "value", code) or "")


def connection_key(connection: str) -> str:
    """A per-process cache key for one storage connection (tests and the benchmark switch its value, which may
    hold an account key: hashed)."""
    import hashlib
    import os

    return f"{connection}:{hashlib.sha256(os.environ.get(connection, '').encode()).hexdigest()[:16]}"


def table_client(table_name: str, *, connection: str = DEFAULT_CONNECTION) -> TableClient:
    from azure.data.tables import TableClient

    target = StorageTarget.resolve(connection)
    if target.connection_string:
        return TableClient.from_connection_string(target.connection_string, table_name)
    return TableClient(target._service_uri("table"), table_name, credential=target.credential())


def blob_service_client(*, connection: str = DEFAULT_CONNECTION) -> BlobServiceClient:
    from azure.storage.blob import BlobServiceClient

    target = StorageTarget.resolve(connection)
    if target.connection_string:
        return BlobServiceClient.from_connection_string(target.connection_string)
    return BlobServiceClient(target._service_uri("blob"), credential=target.credential())


_created: set[str] = set()


def create_once(key: str, create: Any) -> None:
    """Create a table or queue the first time this process needs it (`key` names it, e.g. `queue:outbound`)."""
    import contextlib

    from azure.core.exceptions import ResourceExistsError

    if key in _created:
        return
    with contextlib.suppress(ResourceExistsError):
        create()
    _created.add(key)
