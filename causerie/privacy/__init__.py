"""The privacy firewall: personal data is replaced before a request reaches an external provider."""
