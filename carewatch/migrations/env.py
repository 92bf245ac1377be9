"""Alembic environment: runs migrations on the URL given by ``carewatch.db.migrate``."""

from __future__ import annotations

from alembic import context

from carewatch.db import Base, _import_models, make_engine

_import_models()
config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url, "carewatch.db.migrate sets sqlalchemy.url"

engine = make_engine(url)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
