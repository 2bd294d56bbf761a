"""Every secret the tests use, for the end-of-session scan of the proxy's logs.

Collected two ways: statically, from the test sources (module-level constants named like a
key, token, secret or password, and literal values of ``api_key`` / ``master_key`` /
``authorization``-style fields), and at run time through ``register_secret`` for values a
test builds on the fly (minted virtual keys, generated tokens).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
SECRET_NAME = re.compile(r"(?i)(^|_)(KEY|SECRET|TOKEN|PASSWORD|CREDENTIALS?)(_|$)")
SECRET_FIELDS = {
    "api_key", "master_key", "authorization", "x-api-key", "api-key", "password", "token",
    "client_secret", "private_key", "aws_secret_access_key", "aws_session_token", "secret",
    "salt_key", "access_token", "refresh_token",
}  # fmt: skip
MIN_LENGTH = 10
_registered: set[str] = set()


def register_secret(value: str) -> str:
    """Note a secret made at run time; returns it, for use inline."""
    if len(value) >= MIN_LENGTH:
        _registered.add(value)
    return value


def _secret_value(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        value = node.value.removeprefix("Bearer ").strip()
        if len(value) >= MIN_LENGTH and " " not in value and not value.startswith("os.environ/"):
            return value
    return None


def static_secrets(root: Path = TESTS) -> set[str]:
    found: set[str] = set()
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module-level constants
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                named = any(isinstance(t, ast.Name) and SECRET_NAME.search(t.id) for t in targets)
                value = _secret_value(node.value)
                if named and value:
                    found.add(value)
        for item in ast.walk(tree):  # {"api_key": "..."} and api_key="..."
            if isinstance(item, ast.Dict):
                for k, v in zip(item.keys, item.values, strict=True):
                    if isinstance(k, ast.Constant) and str(k.value).lower() in SECRET_FIELDS:
                        value = _secret_value(v)
                        if value:
                            found.add(value)
            elif isinstance(item, ast.keyword) and item.arg and item.arg.lower() in SECRET_FIELDS:
                value = _secret_value(item.value)
                if value:
                    found.add(value)
    return found


def all_secrets() -> set[str]:
    return static_secrets() | _registered
