"""The control plane's durable state: models, migrations, and the `Store` that reads and writes it.

SQLite (embedded, `corral up`) or PostgreSQL (clusters), through SQLAlchemy's asyncio engine;
schema changes are Alembic migrations under `migrations/`, shipped inside the package.
"""
