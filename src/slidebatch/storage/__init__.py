"""Durable state: SQLAlchemy tables, the batch repository, migrations, and image files.

Nothing outside this package sees an ORM row: repositories return the domain records of
``slidebatch.core``.
"""
