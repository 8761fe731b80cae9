"""PostgreSQL storage (the only package that imports asyncpg) and its in-memory twin."""
