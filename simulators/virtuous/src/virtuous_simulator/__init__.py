"""Virtuous CRM+ simulator: contacts, users and tokens, the Gift and Contact Import Tool, webhooks."""
