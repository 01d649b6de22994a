"""Adapters: Azure storage and tables, the connector, Key Vault, local state."""
