"""Who may do what: API keys and open mode, bind checks, quotas (no web framework here)."""
