"""Salesforce simulator: REST API Contacts, SOQL queries, upsert by external id and updated/deleted polling."""
