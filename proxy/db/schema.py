"""Tables and versioned migrations, identical on SQLite and PostgreSQL.

Every table name carries a prefix (``general_settings.database_table_prefix``, default
``imgproxy_``) so the proxy can share a database, and parallel test runs do not collide.
Migrations are numbered steps recorded in ``<prefix>schema_migrations``; each runs once,
in its own transaction, and is written to be safe when two processes start together.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import sqlalchemy as sa

from proxy.db.engine import AsyncConnection
from proxy.names import MAX_NAME_LENGTH

DEFAULT_PREFIX = "imgproxy_"


@dataclass(frozen=True)
class Tables:
    metadata: sa.MetaData
    migrations: sa.Table
    keys: sa.Table
    spend_logs: sa.Table
    gallery: sa.Table


def make_tables(prefix: str = DEFAULT_PREFIX) -> Tables:
    if not prefix.replace("_", "").isalnum():
        raise ValueError("database_table_prefix: letters, digits and '_' only")
    md = sa.MetaData()
    migrations = sa.Table(
        f"{prefix}schema_migrations",
        md,
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("applied_at", sa.Float, nullable=False),
    )
    keys = sa.Table(
        f"{prefix}keys",
        md,
        sa.Column("key_hash", sa.String(64), primary_key=True),
        sa.Column("key_name", sa.String(32), nullable=False),  # "sk-...wxyz" for display
        sa.Column("key_alias", sa.String(MAX_NAME_LENGTH), nullable=True, unique=True),
        sa.Column("models", sa.JSON, nullable=False),
        sa.Column("max_budget", sa.Float, nullable=True),
        sa.Column("budget_duration", sa.String(32), nullable=True),
        sa.Column("budget_reset_at", sa.Float, nullable=True),
        sa.Column("budget_period", sa.Integer, nullable=False, server_default="0"),
        sa.Column("spend", sa.Float, nullable=False, server_default="0"),
        sa.Column("rpm_limit", sa.Integer, nullable=True),
        sa.Column("expires_at", sa.Float, nullable=True),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("user_id", sa.String(MAX_NAME_LENGTH), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        # migration 2: LiteLLM's team and the key settings that have no column of their own
        # (max_parallel_requests, aliases, blocked, tpm_limit, tags, ...; proxy.keys.litellm)
        sa.Column("team_id", sa.String(MAX_NAME_LENGTH), nullable=True),
        sa.Column("settings", sa.JSON, nullable=True),
    )
    spend_logs = sa.Table(
        f"{prefix}spend_logs",
        md,
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("time", sa.Float, nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=True),
        sa.Column("key_alias", sa.String(MAX_NAME_LENGTH), nullable=True),
        sa.Column("user_id", sa.String(MAX_NAME_LENGTH), nullable=True),
        sa.Column("end_user", sa.String(MAX_NAME_LENGTH), nullable=True),
        sa.Column("model_group", sa.String(MAX_NAME_LENGTH), nullable=True),
        sa.Column("deployment_id", sa.String(128), nullable=True),
        sa.Column("provider", sa.String(64), nullable=True),
        sa.Column("endpoint", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("stream", sa.Boolean, nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("upstream_ms", sa.Float, nullable=False),
        sa.Column("retries", sa.Integer, nullable=False),
        sa.Column("fallbacks", sa.Integer, nullable=False),
        sa.Column("images", sa.Integer, nullable=False),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("total_tokens", sa.Integer, nullable=False),
        sa.Column("cost", sa.Float, nullable=True),  # NULL = unknown, never a silent 0
        sa.Column("cost_basis", sa.String(32), nullable=False),
        sa.Column("error_class", sa.String(128), nullable=True),
        sa.Column("usage", sa.JSON, nullable=True),
        sa.Column("prompt", sa.Text, nullable=True),  # only with store_prompts_in_spend_logs
        sa.Index(f"{prefix}ix_spend_time", "time"),
        sa.Index(f"{prefix}ix_spend_key_time", "key_hash", "time"),
        sa.Index(f"{prefix}ix_spend_user_time", "end_user", "time"),
        sa.Index(f"{prefix}ix_spend_model_time", "model_group", "time"),
    )
    gallery = sa.Table(  # images kept for the console's gallery (general_settings.console_gallery)
        f"{prefix}gallery",
        md,
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("time", sa.Float, nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("image_index", sa.Integer, nullable=False),
        sa.Column("file_id", sa.String(80), nullable=False),  # in the image store
        sa.Column("media_type", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=True),
        sa.Column("key_alias", sa.String(MAX_NAME_LENGTH), nullable=True),
        sa.Column("model_group", sa.String(MAX_NAME_LENGTH), nullable=True),
        sa.Column("prompt", sa.Text, nullable=True),
        sa.Column("cost", sa.Float, nullable=True),  # the request's cost / its images
        sa.Index(f"{prefix}ix_gallery_time", "time"),
        sa.Index(f"{prefix}ix_gallery_request", "request_id", "image_index", unique=True),
    )
    return Tables(md, migrations, keys, spend_logs, gallery)


Migration = Callable[[AsyncConnection, Tables], Awaitable[None]]


async def _v1_initial(conn: AsyncConnection, t: Tables) -> None:
    await conn.run_sync(
        lambda sync: t.metadata.create_all(sync, tables=[t.keys, t.spend_logs], checkfirst=True)
    )


async def _v2_key_settings(conn: AsyncConnection, t: Tables) -> None:
    """``team_id`` and ``settings`` on keys (a database made before them lacks both; one made
    since has them from migration 1, which creates the tables as they are now)."""
    name = t.keys.name

    def add_columns(sync: sa.Connection) -> None:
        present = {c["name"] for c in sa.inspect(sync).get_columns(name)}
        for column in (t.keys.c.team_id, t.keys.c.settings):
            if column.name not in present:
                kind = column.type.compile(dialect=sync.dialect)
                sync.execute(sa.text(f'ALTER TABLE "{name}" ADD COLUMN {column.name} {kind}'))

    await conn.run_sync(add_columns)


async def _v3_gallery(conn: AsyncConnection, t: Tables) -> None:
    await conn.run_sync(lambda sync: t.gallery.create(sync, checkfirst=True))


MIGRATIONS: tuple[tuple[int, str, Migration], ...] = (
    (1, "keys and spend logs", _v1_initial),
    (2, "key team_id and settings", _v2_key_settings),
    (3, "console gallery", _v3_gallery),
)
LATEST = MIGRATIONS[-1][0]
