"""Several slidebatch processes on one PostgreSQL database: the fleet."""
