"""Cross-checks of app setting names between the code, infra/, local.settings.json.example and docs/settings.md.

The Bicep compiler needs the internet, so nothing here compiles the templates. Instead every name is
derived from the files themselves: a setting the code starts reading without wiring it into infra/
(or documenting it as optional), or a name misspelt in one place, fails this test.
"""

from __future__ import annotations

import ast
import difflib
import itertools
import json
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "switchboard"
INFRA = ROOT / "infra"

# Read by the Functions host or the local tooling, not by the app's code.
HOST_ONLY = frozenset(
    {
        "FUNCTIONS_WORKER_RUNTIME",  # local host; Flex Consumption sets the runtime in functionAppConfig
        "AzureWebJobsFeatureFlags",  # local host (worker indexing); not needed on Flex Consumption
        "LOCAL_FUNCTION_KEY",  # the local host's function key; Azure manages real keys
    }
)
# Code that does not run inside the function app: the local host, and the producer-side client and CLI.
NOT_APP_CODE = ("devhost/", "client.py", "__main__.py")
SETTING_NAME = re.compile(r"^(?:[A-Z][A-Z0-9_]*|AzureWebJobs\w+)$")
ENV_NAMES = frozenset({"env", "environ"})


def _is_env(node: ast.AST) -> bool:
    """`env`, `environ` or `os.environ`: the mappings settings are read from."""
    if isinstance(node, ast.Name):
        return node.id in ENV_NAMES
    return isinstance(node, ast.Attribute) and node.attr == "environ"


def _constant(node: ast.AST | None, names: dict[str, str] | None = None) -> str | None:
    """A string literal, or a module-level name bound to one (`CONNECTION_SETTING = "..."`)."""
    if isinstance(node, ast.Name) and names:
        return names.get(node.id)
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _module_strings(tree: ast.Module) -> dict[str, str]:
    strings: dict[str, str] = {}
    for node in tree.body:
        single = isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        if single and (value := _constant(node.value)) is not None:  # type: ignore[attr-defined]
            strings[node.targets[0].id] = value  # type: ignore[attr-defined]
    return strings


def names_read_by(source: str) -> set[str]:
    """Setting names a module reads: `_kind(env, "NAME")`, `env.get("NAME")`, `os.environ["NAME"]`, `os.getenv()`."""
    found: set[str] = set()
    tree = ast.parse(source)
    strings = _module_strings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            args = list(node.args)
            for before, after in itertools.pairwise(args):
                if _is_env(before) and (name := _constant(after, strings)):
                    found.add(name)
            method = node.func
            if isinstance(method, ast.Attribute) and args:
                on_env = method.attr in {"get", "pop", "setdefault", "__getitem__"} and _is_env(method.value)
                getenv = method.attr == "getenv"
                if (on_env or getenv) and (name := _constant(args[0], strings)):
                    found.add(name)
        elif isinstance(node, ast.Subscript) and _is_env(node.value) and (name := _constant(node.slice, strings)):
            found.add(name)
    return {name for name in found if SETTING_NAME.match(name)}


@cache
def code_names() -> frozenset[str]:
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if not relative.startswith(NOT_APP_CODE):
            names |= names_read_by(path.read_text(encoding="utf-8"))
    return frozenset(names)


@cache
def settings_module_fields() -> dict[str, tuple[str, str]]:
    """Settings.from_env keyword -> (reader, setting name), e.g. auth_token -> ("_required", "TWILIO_AUTH_TOKEN")."""
    tree = ast.parse((PACKAGE / "settings.py").read_text(encoding="utf-8"))
    fields: dict[str, tuple[str, str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg:
            for call in ast.walk(node.value):
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and len(call.args) >= 2:
                    name = _constant(call.args[1])
                    if name and _is_env(call.args[0]):
                        fields[node.arg] = (call.func.id, name)
                        break
    return fields


@cache
def secret_names() -> frozenset[str]:
    """Settings whose dataclass field hides its value from repr: secrets."""
    tree = ast.parse((PACKAGE / "settings.py").read_text(encoding="utf-8"))
    hidden: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(node.value, ast.Call):
            for keyword in node.value.keywords:
                if keyword.arg == "repr" and isinstance(keyword.value, ast.Constant) and keyword.value.value is False:
                    hidden.add(node.target.id)
    fields = settings_module_fields()
    return frozenset(fields[field][1] for field in hidden if field in fields)


@cache
def required_names() -> frozenset[str]:
    return frozenset(name for reader, name in settings_module_fields().values() if reader == "_required")


def _bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@cache
def infra_settings() -> dict[str, str]:
    """App setting names set in the Bicep, with the text of their value."""
    settings: dict[str, str] = {}
    property_line = re.compile(r"^\s*'?(?P<name>[A-Za-z][A-Za-z0-9_]*)'?\s*:\s*(?P<value>.*)$")
    for path in _bicep_files():
        for line in path.read_text(encoding="utf-8").splitlines():
            found = property_line.match(line)
            if found and SETTING_NAME.match(found["name"]) and not line.lstrip().startswith("//"):
                settings[found["name"]] = found["value"]
    return settings


@cache
def example_names() -> frozenset[str]:
    data = json.loads((ROOT / "local.settings.json.example").read_text(encoding="utf-8"))
    return frozenset(data["Values"])


@cache
def readme_table() -> dict[str, str]:
    """Setting name -> its `required` column, from the settings table in docs/settings.md."""
    text = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    section = re.search(r"^# Settings\n(.*?)(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert section, "docs/settings.md has no '# Settings' section"
    table: dict[str, str] = {}
    for line in section.group(1).splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and line.lstrip().startswith("|"):
            for name in re.findall(r"`([^`]+)`", cells[0]):
                table[name] = cells[1].lower()
    assert table, "the table in docs/settings.md is empty"
    return table


def storage_identity_names() -> frozenset[str]:
    """`AzureWebJobsStorage__<suffix>` for each suffix switchboard/adapters/storage.py understands."""
    source = (PACKAGE / "adapters" / "storage.py").read_text(encoding="utf-8")
    suffixes = set(re.findall(r"__([a-z][A-Za-z]+)\b", source))
    suffixes |= {f"{service}ServiceUri" for service in re.findall(r'uri\("(\w+)"\)', source)}
    return frozenset(f"AzureWebJobsStorage__{suffix}" for suffix in suffixes)


def known_names() -> frozenset[str]:
    return code_names() | HOST_ONLY | storage_identity_names()


def _unknown(names: set[str] | frozenset[str], where: str) -> list[str]:
    known = known_names()
    problems = []
    for name in sorted(set(names) - known):
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}?)" if close else ""
        problems.append(f"{where}: {name} is not read by the app{hint}")
    return problems


# --- the extraction itself, so that the checks below cannot pass vacuously ---


def test_extraction_finds_the_settings_we_know() -> None:
    assert {"TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "PUBLIC_BASE_URL", "AzureWebJobsStorage"} <= code_names()
    assert {"TWILIO_AUTH_TOKEN", "TWILIO_API_SECRET"} <= secret_names()
    assert {"TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"} <= required_names()
    assert {"AzureWebJobsStorage__accountName", "AzureWebJobsStorage__clientId"} <= storage_identity_names()
    assert "PUBLIC_BASE_URL" in infra_settings()
    assert "TWILIO_ACCOUNT_SID" in readme_table()


def test_the_reader_catches_every_way_of_reading_a_setting() -> None:
    source = (
        "import os\n"
        "a = _int(env, 'NEW_INT', default=1, low=0, high=2)\n"
        "b = os.environ.get('FROM_ENVIRON')\n"
        "c = os.environ['SUBSCRIPTED']\n"
        "d = os.getenv('GETENV')\n"
        "e = env.get('ENV_GET', '')\n"
        "f = something.get('not_a_setting')\n"
        "NAMED = 'BY_CONSTANT'\n"
        "g = env.get(NAMED, '')\n"
    )
    expected = {"NEW_INT", "FROM_ENVIRON", "SUBSCRIPTED", "GETENV", "ENV_GET", "BY_CONSTANT"}
    assert names_read_by(source) == expected


def test_an_unwired_setting_would_fail() -> None:
    """What the checks see for a name nobody wired (say `_optional(env, "QZX_UNWIRED")` and nothing else)."""
    new = "QZX_UNWIRED"
    assert new not in infra_settings()
    assert new not in readme_table()
    assert _unknown({new}, "README.md") == ["README.md: QZX_UNWIRED is not read by the app"]
    [problem] = _unknown({"TWILIO_PHONE_NUMEBR"}, "x")
    assert problem == "x: TWILIO_PHONE_NUMEBR is not read by the app (did you mean TWILIO_PHONE_NUMBER?)"


# --- the cross-checks ---


def test_every_setting_the_code_reads_is_set_by_infra_or_documented_as_optional() -> None:
    table, infra = readme_table(), infra_settings()
    problems = []
    for name in sorted(code_names()):
        if name in infra:
            continue
        documented = table.get(name)
        if documented is None:
            problems.append(f"{name}: read by the code, but neither set in infra/ nor in docs/settings.md")
        elif documented.startswith("yes") and name != "AzureWebJobsStorage":
            problems.append(f"{name}: required (docs/settings.md), but infra/ does not set it")
    assert not problems, "\n".join(problems)


def test_required_settings_are_set_by_infra() -> None:
    assert required_names() <= set(infra_settings()), required_names() - set(infra_settings())


def test_every_setting_is_documented_in_the_readme() -> None:
    missing = sorted(code_names() - set(readme_table()))
    assert not missing, f"add these to the table in docs/settings.md: {missing}"


def test_local_settings_example_matches_the_settings_module() -> None:
    missing = sorted(code_names() - example_names())
    assert not missing, f"add these to local.settings.json.example: {missing}"


@pytest.mark.parametrize(
    ("where", "names"),
    [
        ("local.settings.json.example", example_names),
        ("infra/ app settings", lambda: frozenset(infra_settings())),
        ("docs/settings.md table", lambda: frozenset(readme_table())),
    ],
)
def test_no_name_is_misspelt(where, names) -> None:
    problems = _unknown(names(), where)
    assert not problems, "\n".join(problems)


KEY_VAULT_VALUE = re.compile(
    r"^(?:(?:!?empty\(\w+\)|\w+) \? (?:'' : )?)?'@Microsoft\.KeyVault\(SecretUri=[^']+'(?: : '')?$"
)


def test_secrets_come_from_key_vault_references() -> None:
    """A Key Vault reference, or (optional secrets) empty when unused: `empty(x) ? '' : '@Microsoft.KeyVault(...)'`."""
    infra = infra_settings()
    for name in secret_names():
        if name in infra:
            assert KEY_VAULT_VALUE.match(infra[name]), f"{name} must be a Key Vault reference: {infra[name]}"
    assert infra["TWILIO_AUTH_TOKEN"].startswith("'@Microsoft.KeyVault(SecretUri=")
    assert not KEY_VAULT_VALUE.match("empty(x) ? '' : 'plain-text-secret'")


def test_storage_is_identity_based_without_keys() -> None:
    infra = infra_settings()
    assert "AzureWebJobsStorage" not in infra, "a connection string would carry an account key"
    assert infra["AzureWebJobsStorage__credential"] == "'managedidentity'"
    assert "AzureWebJobsStorage__accountName" in infra
    assert "AzureWebJobsStorage__clientId" in infra
    main = (INFRA / "main.bicep").read_text(encoding="utf-8")
    assert re.search(r"allowSharedKeyAccess:\s*false", main)
    for queue in ("'outbound'", "'outbound-poison'"):
        assert queue in main


# --- consistency of the template itself (what the Bicep compiler would catch) ---


def _params(bicep: str) -> dict[str, bool]:
    """Parameter name -> has a default."""
    declaration = re.compile(r"^param (?P<name>\w+) [\w.]+(?P<default> =)?", re.M)
    return {m["name"]: bool(m["default"]) for m in declaration.finditer(bicep)}


def test_parameters_file_matches_main_bicep() -> None:
    params = _params((INFRA / "main.bicep").read_text(encoding="utf-8"))
    given = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert set(given) <= set(params), set(given) - set(params)
    without_default = {name for name, has_default in params.items() if not has_default}
    assert without_default <= set(given), without_default - set(given)


def test_module_paths_and_params_exist() -> None:
    for path in _bicep_files():
        text = path.read_text(encoding="utf-8")
        modules = re.compile(r"^module \w+ '(?P<target>[^']+)' = (?:if \(.*?\) )?\{\n(?P<body>.*?)^\}", re.M | re.S)
        for found in modules.finditer(text):
            target = found["target"]
            if target.startswith("br/public:"):
                assert re.fullmatch(r"br/public:avm/res/[\w/-]+:\d+\.\d+\.\d+", target), target
                continue
            module = (path.parent / target).resolve()
            assert module.exists(), f"{path.name}: module {target} is missing"
            declared = _params(module.read_text(encoding="utf-8"))
            block = re.search(r"^  params: \{\n(.*?)^  \}", found["body"], re.M | re.S)
            passed = set(re.findall(r"^    (\w+):", block.group(1), re.M)) if block else set()
            assert passed <= set(declared), f"{target}: unknown params {passed - set(declared)}"
            required = {name for name, has_default in declared.items() if not has_default}
            assert required <= passed, f"{target}: missing params {required - passed}"


def test_module_outputs_used_exist() -> None:
    main = (INFRA / "main.bicep").read_text(encoding="utf-8")
    modules = dict(re.findall(r"^module (\w+) '(\./)?(app/[^']+)'", main, re.M) and
                   [(m[0], m[2]) for m in re.findall(r"^module (\w+) '(\./)?(app/[^']+)'", main, re.M)])  # fmt: skip
    for symbol, output in set(re.findall(r"\b(\w+)\.outputs\.(\w+)", main)):
        if symbol in modules:
            text = (INFRA / modules[symbol]).read_text(encoding="utf-8")
            assert re.search(rf"^output {output} ", text, re.M), f"{modules[symbol]} has no output {output}"


def test_azd_hooks_read_outputs_that_exist() -> None:
    """Every value tools/azd_hooks.py takes from azd's environment is a Bicep output (or azd's own, or the user's)."""
    outputs = set(re.findall(r"^output (\w+) ", (INFRA / "main.bicep").read_text(encoding="utf-8"), re.M))
    hooks = (ROOT / "tools" / "azd_hooks.py").read_text(encoding="utf-8")
    used = set(re.findall(r"""env(?:\.get\(|\[)['"]([A-Z][A-Z0-9_]+)['"]""", hooks))
    used |= set(re.findall(r'"((?:AZURE|SWITCHBOARD)_[A-Z_]+)"', hooks))
    azds_own = {"AZURE_SUBSCRIPTION_ID"}  # azd sets it in every environment
    users = {"TWILIO_CONFIGURE_NUMBER"}  # `azd env set TWILIO_CONFIGURE_NUMBER true` (docs/deploy.md)
    assert {"TWILIO_VOICE_WEBHOOK_URL", "AZURE_RESOURCE_GROUP", "SWITCHBOARD_HEALTH_URL"} <= used
    assert used - azds_own - users <= outputs, used - azds_own - users - outputs
    azure_yaml = (ROOT / "azure.yaml").read_text(encoding="utf-8")
    assert re.search(r"^  api:\n    project: \.\n    language: python\n    host: function$", azure_yaml, re.M)


# --- every queue, table and container the code uses exists in infra/ ---

STORAGE_CLIENTS = {"queue_client": "queues", "table_client": "tables", "get_container_client": "containers"}
SETTING_KINDS = {"_queue": "queues", "_queues": "queues", "_table": "tables", "_tables": "tables",
                 "_container": "containers", "_containers": "containers"}  # fmt: skip
KINDS = ("queues", "tables", "containers")


def _string(node: ast.AST, names: dict[str, str]) -> str | None:
    """A literal, a module constant, or an f-string of those (`f"{QUEUE}-poison-poison"`)."""
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            inner = value.value if isinstance(value, ast.FormattedValue) else value
            part = _string(inner, names)
            if part is None:
                return None
            parts.append(part)
        return "".join(parts)
    return _constant(node, names)


def names_in_storage_calls(source: str) -> dict[str, set[str]]:
    """Names given to `queue_client(...)`, `table_client(...)` and `.get_container_client(...)` in a module."""
    tree = ast.parse(source)
    strings = _module_strings(tree)
    found: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if called in STORAGE_CLIENTS and (name := _string(node.args[0], strings)):
                found[STORAGE_CLIENTS[called]].add(name)
    return found


def binding_names(app) -> dict[str, set[str]]:
    """From the functions' bindings, as the host reads them: a queue trigger also needs its `-poison` queue."""
    from tools.devhost.index import functions_of

    found: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for function in functions_of(app):
        for binding in json.loads(function.get_function_json())["bindings"]:
            kind = binding["type"]
            if kind in ("queue", "queueTrigger"):
                found["queues"].add(binding["queueName"])
                if kind == "queueTrigger":  # the host moves a message that failed maxDequeueCount times here
                    found["queues"].add(f"{binding['queueName']}-poison")
            elif kind == "table":
                found["tables"].add(binding["tableName"])
            elif kind.startswith("blob") and "path" in binding:
                container = binding["path"].split("/", 1)[0]
                if "{" not in container:
                    found["containers"].add(container)
    return found


def settings_names() -> dict[str, set[str]]:
    """Defaults of the settings that name a queue, table or container (`records_table`, `holdmusic_containers`)."""
    import dataclasses

    from switchboard.settings import Settings

    settings = Settings.from_env({"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "token"})
    found: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for field in dataclasses.fields(settings):
        suffix = "_" + field.name.rsplit("_", 1)[-1]
        if suffix in SETTING_KINDS:
            value = getattr(settings, field.name)
            found[SETTING_KINDS[suffix]] |= set(value) if isinstance(value, frozenset) else {value}
    return found


def code_storage_names(app) -> dict[str, set[str]]:
    found = binding_names(app)
    for extra in [settings_names()] + [
        names_in_storage_calls(path.read_text(encoding="utf-8"))
        for path in PACKAGE.rglob("*.py")
        if not path.relative_to(PACKAGE).as_posix().startswith(NOT_APP_CODE)
    ]:
        for kind in KINDS:
            found[kind] |= extra[kind]
    return found


@cache
def infra_storage_names() -> dict[str, set[str]]:
    """The `queueNames`, `tableNames` and `containerNames` arrays of infra/main.bicep."""
    main = (INFRA / "main.bicep").read_text(encoding="utf-8")
    found = {}
    for kind in KINDS:
        block = re.search(rf"^var {kind[:-1]}Names = \[\n(.*?)^\]", main, re.M | re.S)
        assert block, f"infra/main.bicep has no `var {kind[:-1]}Names = [...]`"
        found[kind] = set(re.findall(r"^\s*'([^']+)'", block.group(1), re.M))
    return found


def test_the_storage_name_extraction_finds_the_names_we_know(app) -> None:
    found = code_storage_names(app)
    assert {"outbound", "outbound-poison", "outbound-poison-poison"} <= found["queues"]
    assert {"records", "optouts"} <= found["tables"]
    assert "holdmusic" in found["containers"]
    source = (
        "QUEUE = 'jobs'\n"
        "a = queue_client(f'{QUEUE}-poison-poison')\n"
        "b = table_client('ledger')\n"
        "c = service.get_container_client('media')\n"
        "d = queue_client(name)\n"
    )
    assert names_in_storage_calls(source) == {
        "queues": {"jobs-poison-poison"}, "tables": {"ledger"}, "containers": {"media"},
    }  # fmt: skip


def test_every_queue_table_and_container_the_code_uses_exists_in_infra(app) -> None:
    found, infra = code_storage_names(app), infra_storage_names()
    missing = {kind: sorted(found[kind] - infra[kind]) for kind in KINDS if found[kind] - infra[kind]}
    assert not missing, f"add these to the arrays in infra/main.bicep: {missing}"


def test_health_checks_every_name_the_code_uses(app) -> None:
    """switchboard/adapters/inventory.py is what /api/health and the local host work from: it must not miss a name."""
    from switchboard.adapters.inventory import storage_names
    from switchboard.settings import Settings

    names = storage_names(Settings.from_env({"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "token"}))
    found = code_storage_names(app)
    inventory = {"queues": set(names.queues), "tables": set(names.tables), "containers": set(names.containers)}
    missing = {kind: sorted(found[kind] - inventory[kind]) for kind in KINDS if found[kind] - inventory[kind]}
    assert not missing, f"add these to switchboard/adapters/inventory.py: {missing}"


def test_infra_storage_arrays_are_what_the_storage_account_gets() -> None:
    main = (INFRA / "main.bicep").read_text(encoding="utf-8")
    assert re.search(r"queues: map\(queueNames, \w+ => \{name: \w+\}\)", main)
    assert re.search(r"containers: concat\(\[\{name: deploymentStorageContainerName\}\], map\(containerNames,", main)
    assert re.search(r"tableNames: tableNames", main)
    tables = (INFRA / "app" / "tables.bicep").read_text(encoding="utf-8")
    assert re.search(r"tableServices/tables@[\d-]+' = \[for tableName in tableNames:", tables)
    assert "publicAccess" not in main, "the app's containers stay private (links carry a user-delegation SAS)"


# --- deploy-time safety ---


def test_api_key_and_secret_go_together_at_deploy_time() -> None:
    """Both or neither: otherwise TWILIO_API_SECRET is a Key Vault reference to a secret that was never made."""
    main = (INFRA / "main.bicep").read_text(encoding="utf-8")
    pattern = (
        r"^var (\w+) = empty\(twilioApiKey\) && empty\(twilioApiSecret\) \? false : "
        r"\(!empty\(twilioApiKey\) && !empty\(twilioApiSecret\) \? true : fail\('([^']+)'\)\)$"
    )
    gate = re.search(pattern, main, re.M)
    assert gate, "main.bicep must fail() the deployment when only one of twilioApiKey/twilioApiSecret is given"
    name, message = gate.groups()
    assert "twilioApiKey" in message
    assert "twilioApiSecret" in message
    assert re.search(rf"^\s+TWILIO_API_KEY: {name} \? twilioApiKey : ''$", main, re.M)
    assert re.search(rf"^\s+TWILIO_API_SECRET: {name} \? '@Microsoft\.KeyVault\(SecretUri=[^']+' : ''$", main, re.M)
    assert re.search(rf"twilioApiSecret: {name} \? twilioApiSecret : ''", main)
    keyvault = (INFRA / "app" / "keyvault.bicep").read_text(encoding="utf-8")
    assert "= if (!empty(twilioApiSecret))" in keyvault  # the secret exists exactly when the setting refers to it


def test_basic_publishing_credentials_are_off() -> None:
    api = (INFRA / "app" / "api.bicep").read_text(encoding="utf-8")
    block = re.search(r"basicPublishingCredentialsPolicies: \[\n(.*?)\n    \]", api, re.S)
    assert block, "the site module's basicPublishingCredentialsPolicies is not set"
    policies = re.findall(r"name: '(\w+)'\n\s+allow: (\w+)", block.group(1))
    assert sorted(policies) == [("ftp", "false"), ("scm", "false")]


def test_producers_can_send_to_the_outbound_queue_only() -> None:
    """Queue Data Message Sender scoped to `outbound`: a producer cannot write `voicemail-email` or a poison queue."""
    main = (INFRA / "main.bicep").read_text(encoding="utf-8")
    rbac = (INFRA / "app" / "rbac.bicep").read_text(encoding="utf-8")
    assert re.search(r"^param producerPrincipalIds string = ''$", main, re.M)
    assert "var producers = filter(map(split(producerPrincipalIds, ','), id => trim(id)), id => !empty(id))" in main
    assert "producerPrincipalIds: producers" in main
    assert "outboundQueueName: queueNames[0]" in main
    assert infra_storage_names()["queues"] >= {"outbound"}
    assert re.search(r"^var queueNames = \[\n  'outbound' ", main, re.M), "queueNames[0] must be the outbound queue"
    sender = "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a"  # Storage Queue Data Message Sender (built-in role)
    assert re.search(rf"^var queueSenderRoleDefinitionId = '{sender}'", rbac, re.M)
    block = re.search(r"^resource producerQueueSenderRoleAssignments [^\n]+= \[for producerPrincipalId in "
                      r"producerPrincipalIds: \{\n(.*?)^\}\]", rbac, re.M | re.S)  # fmt: skip
    assert block, "rbac.bicep has no producer role assignments"
    assert re.search(r"^  scope: outboundQueue$", block.group(1), re.M)
    queue = re.search(r"^resource outboundQueue '[^']+/queues@[\d-]+' existing = \{\n(.*?)^\}", rbac, re.M | re.S)
    assert queue
    assert "name: outboundQueueName" in queue.group(1)
    # Nothing else gives the sender role, or any queue role, to a producer.
    assert rbac.count("roleDefinitions', queueSenderRoleDefinitionId)") == 1
    given = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert given["producerPrincipalIds"]["value"] == "${SWITCHBOARD_PRODUCER_PRINCIPAL_IDS=}"


def test_printed_urls_come_from_the_sites_default_hostname() -> None:
    main = (INFRA / "main.bicep").read_text(encoding="utf-8")
    api = (INFRA / "app" / "api.bicep").read_text(encoding="utf-8")
    assert re.search(r"^output SERVICE_API_HOSTNAME string = api\.outputs\.defaultHostname$", api, re.M)
    assert re.search(r"^var siteUrl = 'https://\$\{api\.outputs\.SERVICE_API_HOSTNAME\}'$", main, re.M)
    for output in ("TWILIO_VOICE_WEBHOOK_URL", "TWILIO_SMS_WEBHOOK_URL", "SWITCHBOARD_DASHBOARD_URL",
                   "SWITCHBOARD_HEALTH_URL", "SWITCHBOARD_API_URL"):  # fmt: skip
        assert re.search(rf"^output {output} string = '?\$?\{{?siteUrl", main, re.M), output


# --- round 2: what the deployment promises (issue: Azure for real, round 2; trust boundaries, deployment side) ---


def _main() -> str:
    return (INFRA / "main.bicep").read_text(encoding="utf-8")


def _block(text: str, opener: str) -> str:
    """The body of the `{ ... }` that starts on the line `opener` (an indented object literal), by brace counting."""
    start = text.index(opener)
    depth, index = 0, text.index("{", start)
    for index in range(index, len(text)):  # noqa: B020 (the loop resumes at the brace)
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return text[text.index("{", start) + 1 : index]
    raise AssertionError(f"unbalanced braces after {opener!r}")


def app_settings_block() -> str:
    return _block(_main(), "    appSettings: {")


def test_every_optional_setting_is_always_written() -> None:
    """The AVM site module merges app settings with the current ones: a setting left out would stay in force."""
    block = app_settings_block()
    names = set(re.findall(r"^\s+([A-Z][A-Z0-9_]+):", block, re.M))
    optional = {"TWILIO_API_KEY", "TWILIO_API_SECRET", "TWILIO_AUTH_TOKEN_SECONDARY", "TWILIO_WEBHOOK_SHARED_KEYS",
                "SMTP_URL", "EMAIL_FROM", "RETENTION_DAYS", "TWILIO_FALLBACK_BASE_URL"}  # fmt: skip
    assert optional <= names, optional - names
    # One plain object: no union() of conditional pieces, no `? {} :` that drops a name when unused.
    assert "union(" not in block
    assert not re.search(r"\?\s*\{\s*\}", block)
    assert set(infra_settings()) - names <= {name for name in infra_settings() if name.startswith(
        ("AzureWebJobsStorage__", "APPLICATIONINSIGHTS_"))}  # fmt: skip
    # The module does merge: the pinned site module unions `currentAppSettings` (read with list()) under ours.
    assert re.search(r"^module api 'br/public:avm/res/web/site:0\.15\.\d+'", (INFRA / "app" / "api.bicep").read_text(
        encoding="utf-8"), re.M)  # fmt: skip
    assert "RETENTION_DAYS: retentionDays > 0 ? string(retentionDays) : ''" in block


def test_an_empty_setting_reads_as_unset() -> None:
    """What infra/ writes for an unused optional setting is what the app reads as not set."""
    from switchboard.settings import Settings

    empty = dict.fromkeys(re.findall(r"^\s+([A-Z][A-Z0-9_]+): [^\n]*(?:\? '' :|: ''$)", app_settings_block(), re.M), "")
    assert {"TWILIO_AUTH_TOKEN_SECONDARY", "SMTP_URL", "RETENTION_DAYS", "TWILIO_API_KEY"} <= set(empty)
    settings = Settings.from_env({"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "token", **empty,
                                  "EMAIL_FROM": "", "TWILIO_FALLBACK_BASE_URL": ""})  # fmt: skip
    assert settings.auth_token_secondary is None
    assert settings.smtp_url is None
    assert settings.retention_days is None
    assert settings.api_key is None
    assert settings.fallback_base_url is None
    assert settings.secrets == ("token",)


def _param_types(bicep: str) -> dict[str, str]:
    return dict(re.findall(r"^param (\w+) (\w+)", bicep, re.M))


def test_the_parameter_file_passes_no_array_or_object() -> None:
    """azd before 1.23.4 passes `${VAR=[]}` to ARM as a string: every value from the environment is a scalar."""
    types = _param_types(_main())
    given = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    substitution = re.compile(r"^\$\{(?P<name>[A-Z][A-Z0-9_]*)(?:=(?P<default>[^}]*))?\}$")
    for name, entry in given.items():
        found = substitution.match(entry["value"])
        assert found, f"{name}: {entry['value']!r} is not one ${{VARIABLE}} or ${{VARIABLE=default}}"
        assert types[name] in ("string", "bool", "int"), f"{name} is a {types[name]}: azd may pass it as a string"
        default = found["default"]
        if types[name] == "bool" and default is not None:
            assert default in ("true", "false"), name
        if types[name] == "int" and default is not None:
            assert default.isdigit(), name
    assert given["principalType"]["value"] == "${AZURE_PRINCIPAL_TYPE}"
    assert given["deployerDataAccess"]["value"] == "${SWITCHBOARD_DEPLOYER_DATA_ACCESS=false}"


def test_azure_yaml_states_the_azd_version_it_needs() -> None:
    import yaml

    config = yaml.safe_load((ROOT / "azure.yaml").read_text(encoding="utf-8"))
    assert config["requiredVersions"]["azd"] == ">= 1.17.1"  # AZURE_PRINCIPAL_TYPE arrived in 1.17.1


def test_storage_stays_in_the_region_and_opens_with_entra_id() -> None:
    storage = _block(_main(), "module storage 'br/public:avm/res/storage/storage-account:0.8.3' = {")
    assert "skuName: 'Standard_LRS'" in storage  # the module's default is Standard_GRS (the paired region)
    assert "allowCrossTenantReplication: false" in storage
    assert "defaultToOAuthAuthentication: true" in storage
    assert "allowSharedKeyAccess: false" in storage
    # Blob soft delete set on purpose, and documented where erasure is (docs/data.md).
    assert "deleteRetentionPolicyEnabled: blobSoftDeleteDays > 0" in storage
    assert re.search(r"^param blobSoftDeleteDays int = 7$", _main(), re.M)
    data = (ROOT / "docs" / "data.md").read_text(encoding="utf-8")
    erasure = data[data.index("## Erasure") :]
    assert "soft delete" in erasure
    assert "blobSoftDeleteDays" in erasure


def test_application_insights_masks_client_ips() -> None:
    monitoring = _block(_main(), "module monitoring 'br/public:avm/res/insights/component:0.4.1' = {")
    assert "disableIpMasking: false" in monitoring  # the module's default is true: full client IPs stored


def test_the_deployer_gets_data_access_only_when_asked() -> None:
    main, rbac = _main(), (INFRA / "app" / "rbac.bicep").read_text(encoding="utf-8")
    assert re.search(r"^param deployerDataAccess bool = false$", main, re.M)
    assert "deployerDataAccess: deployerDataAccess" in main
    assert "principalType: 'User'" not in rbac, "a fixed principalType fails azd from CI (UnmatchedPrincipalType)"
    deployer = [m for m in re.finditer(r"^resource (\w+) [^\n]+\n(?:.*?\n)*?^\}\]?$", rbac, re.M)
                if "principalId: deployerPrincipalId" in m.group(0)]  # fmt: skip
    assert len(deployer) == 4
    for found in deployer:
        text = found.group(0)
        assert "principalType: deployerPrincipalType" in text, found.group(1)
        if found.group(1) != "deployerWebRoleAssignment":
            assert "deployerDataAccess" in text.split("\n", 1)[0] or "deployerStorageRoles" in text, found.group(1)
    assert "var deployerStorageRoles = deployerDataAccess && !empty(deployerPrincipalId) ? appRoles : []" in rbac
    # Always granted: write access to `$web` only (the fallback TwiML), by an ABAC condition on the container name.
    web = next(m.group(0) for m in deployer if m.group(1) == "deployerWebRoleAssignment")
    assert "conditionVersion: '2.0'" in web
    assert "condition: webContainerOnly" in web
    assert "containers:name] StringEquals \\'$web\\'" in rbac
    assert re.search(r"^var deployerType = empty\(principalType\) \? 'User' :", main, re.M)


def test_scale_is_a_small_parameter() -> None:
    main, api = _main(), (INFRA / "app" / "api.bicep").read_text(encoding="utf-8")
    default = int(re.search(r"^param maximumInstanceCount int = (\d+)$", main, re.M).group(1))
    assert default <= 10, "Flex's default (100 instances x 12 in flight) is far above a Twilio account's concurrency"
    assert "maximumInstanceCount: maximumInstanceCount" in main
    assert re.search(r"^param alwaysReadyHttpInstances int = 0$", main, re.M)
    assert "name: 'http'\n            instanceCount: alwaysReadyHttpInstances" in api
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))["extensions"]["queues"]
    in_flight = host["batchSize"] + host["newBatchThreshold"]
    operate = (ROOT / "docs" / "operate.md").read_text(encoding="utf-8")
    assert f"{default} × {in_flight} = {default * in_flight}" in operate  # the arithmetic, with today's numbers


def test_outputs_name_the_resource_group_and_the_fallbacks() -> None:
    outputs = set(re.findall(r"^output (\w+) ", _main(), re.M))
    assert {"AZURE_RESOURCE_GROUP", "TWILIO_FALLBACK_BASE_URL", "TWILIO_VOICE_FALLBACK_URL",
            "TWILIO_SMS_FALLBACK_URL"} <= outputs  # fmt: skip
    deploy = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert "-g rg-switchboard" not in deploy
    assert "AZURE_RESOURCE_GROUP" in deploy


def test_regions_offer_flex_consumption() -> None:
    regions = re.findall(r"^  '([a-z0-9]+)'$", _main().split("param location string")[0], re.M)
    assert "eastus2euap" not in regions  # an early-access canary region, not for customers
    assert {"eastus", "westeurope", "swedencentral"} <= set(regions)


def test_no_test_credential_magic_number_in_deploy_examples() -> None:
    deploy = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert "+15005550006" not in deploy  # Twilio's test-credential magic number cannot take calls


ALERTS = INFRA / "app" / "alerts.bicep"


def _var(text: str, name: str) -> str:
    found = re.search(rf"^var {name} = ([^\n/]+?)\s*(?://.*)?$", text, re.M)
    assert found, name
    return found.group(1).strip("'")


def test_alerts_have_the_thresholds_of_the_issue() -> None:
    alerts = ALERTS.read_text(encoding="utf-8")
    assert (_var(alerts, "poisonWindow"), _var(alerts, "lostWindow"), _var(alerts, "failureWindow")) == (
        "PT10M", "PT15M", "PT30M")  # fmt: skip
    assert (_var(alerts, "lostThreshold"), _var(alerts, "failurePercent"), _var(alerts, "minimumSends")) == (
        "1", "20", "20")  # fmt: skip
    assert _var(alerts, "healthFailures") == "2"
    rules = re.findall(r"^    name: '([\w-]+)'$", alerts[alerts.index("var rules = [") :], re.M)
    assert rules == ["poison-queue", "dead-lettered-or-unknown", "failure-rate", "health"]
    assert "numberOfEvaluationPeriods: rule.periods" in alerts
    assert "minFailingPeriodsToAlert: rule.periods" in alerts
    assert "periods: healthFailures" in alerts
    assert "failures * 100 > sends * ${failurePercent}" in alerts
    assert "sends >= ${minimumSends}" in alerts
    assert "lost >= ${lostThreshold}" in alerts
    assert "samples >= 2 and empty == 0" in alerts  # every sample of the 10 minutes (two at least) non-empty


def test_alerts_mail_the_operator_and_test_health_with_their_own_key() -> None:
    alerts, main = ALERTS.read_text(encoding="utf-8"), _main()
    assert re.search(r"^param alertEmail string = ''$", main, re.M)
    assert "alertEmail: alertEmail" in main
    assert "emailAddress: alertEmail" in alerts
    assert "actionGroup.id" in alerts
    key = re.search(r"^resource availabilityKey '(Microsoft\.Web/sites/host/functionKeys)@[\d-]+' = \{\n(.*?)^\}",
                    alerts, re.M | re.S)  # fmt: skip
    assert key
    assert "name: 'availability-test'" in key.group(2)
    assert "value: availabilityTestKey" in key.group(2)
    assert "@secure()\nparam availabilityTestKey string = newGuid()" in alerts
    test = re.search(r"^resource healthTest 'Microsoft\.Insights/webtests@[\d-]+' = \{\n(.*?)^\}", alerts, re.M | re.S)
    assert test
    assert "key: 'x-functions-key'\n          value: availabilityTestKey" in test.group(1)
    assert "RequestUrl: healthUrl" in test.group(1)
    assert "ExpectedHttpStatusCode: 200" in test.group(1)
    assert "healthUrl: '${siteUrl}/api/health'" in main


def test_the_app_writes_the_lines_the_alerts_count() -> None:
    """Each query's line prefix is one the app logs with telemetry.log_event, with the fields the query reads."""
    alerts = ALERTS.read_text(encoding="utf-8")
    sources = {path: path.read_text(encoding="utf-8") for path in PACKAGE.rglob("*.py")}
    logged = set()
    for text in sources.values():
        logged |= set(re.findall(r'log_event\(\s*\w+,\s*"([\w.]+)"', text))
        logged |= set(re.findall(r'_observe\("([\w.]+)"', text))
    for prefix in re.findall(r'message startswith "([\w.]+) ?"', alerts):
        if prefix.endswith("."):
            assert any(name.startswith(prefix) for name in logged), prefix
        else:
            assert prefix in logged, f"the alerts count `{prefix}` lines, which the app never writes"
    assert {"queue.depth", "record.status", "outbound.handled", "outbound.dead_lettered"} <= logged


def test_the_docs_inventory_matches_infra() -> None:
    """docs/deploy.md's table names every queue, table, container, Key Vault secret and app setting infra/ makes."""
    deploy = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    section = deploy[deploy.index("## What `infra/` creates") :]
    section = section[: section.index("\n## ", 4)] if "\n## " in section[4:] else section
    named = set(re.findall(r"`([^`]+)`", section))
    storage = infra_storage_names()
    missing = [name for kind in KINDS for name in sorted(storage[kind]) if name not in named]
    secrets = re.findall(r"^  name: '([a-z-]+)'$", (INFRA / "app" / "keyvault.bicep").read_text(encoding="utf-8"), re.M)
    missing += [secret for secret in secrets if secret not in named]
    missing += [name for name in sorted(infra_settings()) if name not in named]
    assert secrets
    assert not missing, f"add to docs/deploy.md, What infra/ creates: {missing}"


@pytest.mark.parametrize("path", _bicep_files(), ids=lambda path: path.relative_to(INFRA).as_posix())
def test_every_bicep_file_parses(path: Path) -> None:
    """The Bicep compiler is a download; pycep-parser (PyPI) parses the language. Its grammar trips on a comment
    between a function's arguments (`union(a, // why\\n b)`), so the templates keep such comments on their own lines
    above the call; anything else it refuses is a real syntax error."""
    pycep = pytest.importorskip("pycep", reason="pycep-parser is in requirements-dev.in: `make setup` installs it")
    tree = pycep.BicepParser().parse(file_path=path)
    assert tree, f"{path.name} parsed to nothing"
    declared = set(re.findall(r"^(?:param|var|resource|module|output) (\w+)", path.read_text(encoding="utf-8"), re.M))
    found = {name for section in ("parameters", "variables", "resources", "modules", "outputs")
             for name in (tree.get(section) or {})}  # fmt: skip
    assert declared <= found, f"{path.name}: the parser did not see {declared - found}"


def test_the_event_grid_topic_is_off_by_default_and_the_app_may_only_send_to_it() -> None:
    """Issue 24: the topic exists only with eventGridTopic; the app's identity gets EventGrid Data Sender on it."""
    pycep = pytest.importorskip("pycep", reason="pycep-parser is in requirements-dev.in: `make setup` installs it")
    main = (INFRA / "main.bicep").read_text(encoding="utf-8")
    tree = pycep.BicepParser().parse(file_path=INFRA / "main.bicep")
    assert tree["parameters"]["eventGridTopic"]["default"] is False
    assert re.search(r"^module eventGrid 'app/eventgrid\.bicep' = if \(eventGridTopic\) \{$", main, re.M)
    assert "EVENT_GRID_TOPIC_ENDPOINT: eventGridTopic ? eventGrid.outputs.endpoint : ''" in app_settings_block()
    module = main.split("module eventGrid")[1]
    assert "managedIdentityPrincipalId: apiUserAssignedIdentity.outputs.principalId" in module
    given = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert given["eventGridTopic"]["value"] == "${SWITCHBOARD_EVENT_GRID=false}"
    grid = (INFRA / "app" / "eventgrid.bicep").read_text(encoding="utf-8")
    topic = pycep.BicepParser().parse(file_path=INFRA / "app" / "eventgrid.bicep")["resources"]
    sender = "d5a91429-5739-47e2-a06b-3470a27159e7"  # EventGrid Data Sender (built-in role)
    assert re.search(rf"^var eventGridDataSenderRoleDefinitionId = '{sender}'", grid, re.M)
    assert set(topic) == {"topic", "senderRoleAssignment"}
    assert "inputSchema: 'CloudEventSchemaV1_0'" in grid
    assert "disableLocalAuth: true" in grid  # Entra ID tokens only, as the app sends
    block = grid.split("resource senderRoleAssignment")[1]
    assert "scope: topic" in block
    assert "principalId: managedIdentityPrincipalId" in block
    assert "roleDefinitions', eventGridDataSenderRoleDefinitionId)" in block
