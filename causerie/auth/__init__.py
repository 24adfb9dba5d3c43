"""Who is calling: passwords, sessions and CSRF, API keys, model permissions and quotas."""
