"""TLS for the benchmark: a throwaway CA (trustme) and a certificate for 127.0.0.1, as PEM files.

Azurite serves HTTPS with `--cert`/`--key`, the Twilio emulator with an `ssl` server context, and the
SDKs trust the CA the ordinary way: `REQUESTS_CA_BUNDLE` (both the twilio SDK and azure-core send
through requests, which reads it) and `SSL_CERT_FILE`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CA_SETTINGS = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")


@dataclass(frozen=True)
class Certificates:
    ca: Path  # the CA certificate clients trust
    cert: Path  # the server's certificate chain
    key: Path  # its private key

    def server_env(self) -> dict[str, str]:
        return {"BENCH_TLS_CERT": str(self.cert), "BENCH_TLS_KEY": str(self.key)}

    def client_env(self) -> dict[str, str]:
        return dict.fromkeys(CA_SETTINGS, str(self.ca))


def make(directory: Path) -> Certificates:
    import trustme

    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    paths = Certificates(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    ca.cert_pem.write_to_path(str(paths.ca))
    server.private_key_pem.write_to_path(str(paths.key))
    with paths.cert.open("wb") as chain:
        for blob in server.cert_chain_pems:
            chain.write(blob.bytes())
    return paths


@contextlib.contextmanager
def trusted(certificates: Certificates) -> Iterator[None]:
    """This process's SDK clients trust the CA (and only it) while the block runs."""
    saved = {name: os.environ.get(name) for name in CA_SETTINGS}
    os.environ.update(certificates.client_env())
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
